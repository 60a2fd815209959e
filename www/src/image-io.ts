/**
 * Images in and out of the page: decoding a file to RGBA pixels, the size limits, and saving
 * a canvas as a PNG.
 */
import { formatSize } from "./format";

/** The largest image side the page opens (browsers' canvases stop near 16k). */
export const MAX_SIDE = 8192;
/** The most output pixels a restore may make (16.8 MP: memory for the tiles' blending). */
export const MAX_OUTPUT_PIXELS = 4096 * 4096;

/** A problem with the user's image, worded for them. */
export class ImageFileError extends Error {}

/** An opened image. */
export interface OpenedImage {
  /** The file name, or "pasted image". */
  name: string;
  pixels: ImageData;
}

/** Decodes an image file into RGBA pixels (not premultiplied, sRGB). */
export async function decodeImage(file: Blob, name: string): Promise<OpenedImage> {
  if (file.type && !file.type.startsWith("image/")) {
    throw new ImageFileError(`“${name}” is not an image (it is ${file.type}). Open a PNG, JPEG, WebP, GIF, BMP or AVIF file.`);
  }
  if (file.size === 0) throw new ImageFileError(`“${name}” is empty.`);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file, { premultiplyAlpha: "none", colorSpaceConversion: "default" });
  } catch {
    throw new ImageFileError(
      `“${name}” could not be read as an image: the file is damaged or in a format this browser cannot decode (PNG, JPEG, WebP, GIF, BMP and AVIF work).`,
    );
  }
  try {
    const { width, height } = bitmap;
    if (width > MAX_SIDE || height > MAX_SIDE) {
      throw new ImageFileError(
        `“${name}” is ${formatSize(width, height)} pixels: this page opens images up to ${MAX_SIDE} pixels a side. Scale it down or crop it first.`,
      );
    }
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext("2d", { willReadFrequently: true });
    if (!context) throw new ImageFileError("This browser could not give the page a canvas to read the image.");
    context.drawImage(bitmap, 0, 0);
    return { name, pixels: context.getImageData(0, 0, width, height) };
  } finally {
    bitmap.close();
  }
}

/** Why a model of this `scale` cannot restore a `width x height` image here, or null. */
export function sizeProblem(width: number, height: number, scale: number): string | null {
  const pixels = width * scale * height * scale;
  if (pixels <= MAX_OUTPUT_PIXELS) return null;
  const mp = (n: number) => `${(n / 1e6).toFixed(1)} MP`;
  const side = Math.floor(Math.sqrt(MAX_OUTPUT_PIXELS) / scale);
  return (
    `The result would be ${formatSize(width * scale, height * scale)} (${mp(pixels)}); this page makes at most ${mp(MAX_OUTPUT_PIXELS)}` +
    (scale > 1 ? ` (about ${formatSize(side, side)} in for x${scale})` : "") +
    ". Scale the image down or crop it first."
  );
}

/** The canvas as a PNG file. */
export function canvasToPng(canvas: HTMLCanvasElement): Promise<Blob> {
  return new Promise((resolve, reject) =>
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("the browser could not encode the PNG"))), "image/png"),
  );
}

/** Offers `blob` to the user as a download named `filename`. */
export function saveBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** "photo.jpg" restored by model "sr-x2" → "photo-sr-x2.png". */
export function resultFileName(inputName: string, modelId: string): string {
  const stem = inputName.replace(/\.[^.]*$/, "").replace(/[^\w.-]+/g, "_") || "image";
  return `${stem}-${modelId}.png`;
}
