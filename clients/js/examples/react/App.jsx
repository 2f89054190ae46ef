// <xip-upload> and <xip-image> in a React 19 app. React 19 passes objects
// to custom elements as properties (media={media}) and listens to their
// events with on + the event's name (onxip-complete).
import { useState } from 'react';
import { sizes } from '@ximagepipeline/client';
import '@ximagepipeline/client/elements'; // defines <xip-upload> and <xip-image>

export function App({ endpoint, tokenUrl, apiKey, sourceType = 'photo', sourceId }) {
  const [media, setMedia] = useState(null);
  const [error, setError] = useState(null);
  return (
    <main>
      <xip-upload
        endpoint={endpoint}
        token-url={tokenUrl}
        api-key={apiKey}
        source-type={sourceType}
        source-id={sourceId}
        onxip-complete={(e) => {
          setError(null);
          setMedia(e.detail.media);
        }}
        onxip-error={(e) => setError(e.detail)}
      />
      {error && <p role="alert">{error.error}</p>}
      {media && (
        <figure>
          <xip-image media={media} sizes={sizes({ maxWidth: 480 })} alt="Your upload" style={{ maxWidth: 480 }} />
          <figcaption>
            {media.width} × {media.height} ({media.id})
          </figcaption>
        </figure>
      )}
    </main>
  );
}
