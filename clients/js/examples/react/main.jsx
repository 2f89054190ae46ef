import { createRoot } from 'react-dom/client';
import { App } from './App.jsx';

// The page says where the server is: window.XIP_CONFIG = { endpoint, tokenUrl | apiKey, sourceId }.
createRoot(document.getElementById('root')).render(<App {...window.XIP_CONFIG} />);
