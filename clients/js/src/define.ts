// @ximagepipeline/client/elements: importing this module defines
// <xip-upload> and <xip-image> (once; a second copy of the package leaves
// the first definitions in place).
import { XipImage } from './elements/image.js';
import { XipUpload } from './elements/upload.js';

export { XipImage, XipUpload };
export type {
  CompleteDetail, ErrorDetail, ItemState, ProgressDetail, StatusDetail, TokenRequest, UploadStartDetail,
} from './elements/upload.js';
export * from './index.js';

if (!customElements.get('xip-upload')) customElements.define('xip-upload', XipUpload);
if (!customElements.get('xip-image')) customElements.define('xip-image', XipImage);

declare global {
  interface HTMLElementTagNameMap {
    'xip-upload': XipUpload;
    'xip-image': XipImage;
  }
}
