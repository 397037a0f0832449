// A poster's preview drawn on a canvas: no object URL and no <img>, so a host page's CSP needs
// no `img-src blob:` for it, and the preview is decoded at thumbnail size, not kept full-size.

/**
 * Draws `image` (a Blob, an ImageBitmap or an ImageData) into `canvas`, scaled to fit within
 * `size` × `size` CSS pixels. Resolves to true, or false when the browser cannot decode it
 * (the model may still read it: it has its own decoders).
 * @param {HTMLCanvasElement} canvas
 * @param {Blob | ImageBitmap | ImageData} image
 * @param {number} [size]
 */
export async function drawThumbnail(canvas, image, size = 160) {
  let bitmap;
  try {
    bitmap = image instanceof ImageBitmap ? image : await createImageBitmap(image);
  } catch {
    clear(canvas);
    return false;
  }
  try {
    const scale = Math.min(1, size / Math.max(bitmap.width, bitmap.height));
    const ratio = globalThis.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(bitmap.width * scale));
    const height = Math.max(1, Math.round(bitmap.height * scale));
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.setProperty('width', `${width}px`);
    canvas.style.setProperty('height', `${height}px`);
    // A canvas gives a 2D context unless it already has another kind; these never do.
    const context = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
    context.imageSmoothingQuality = 'high';
    context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    return true;
  } finally {
    if (bitmap !== image) bitmap.close();
  }
}

/** @param {HTMLCanvasElement} canvas */
function clear(canvas) {
  canvas.width = 0;
  canvas.height = 0;
}
