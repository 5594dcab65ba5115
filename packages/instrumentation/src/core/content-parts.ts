/*
 * Building blocks of captured content shared by every wire format: text parts (scrubbed of credentials) and
 * images described by modality, MIME type and size, never their bytes.
 */
import type { ImagePart, MessagePart } from '../types.js';
import { scrub } from './scrub.js';

export type Loose = Record<string, unknown>;

export function isObject(value: unknown): value is Loose {
  return typeof value === 'object' && value !== null;
}

/** Appends a text or reasoning part for a non-empty string. */
export function pushText(parts: MessagePart[], type: 'text' | 'reasoning', value: unknown): void {
  if (typeof value === 'string' && value !== '') parts.push({ type, content: scrub(value) });
}

/** Modality, size and MIME type of an image; its bytes are never kept. */
export function imagePart(image: unknown): ImagePart {
  const part: ImagePart = { type: 'blob', modality: 'image' };
  if (image instanceof Uint8Array) {
    const mimeType = sniffBytes(image);
    if (mimeType !== undefined) part.mime_type = mimeType;
    part.size = image.byteLength;
  } else if (typeof image === 'string') {
    describeBase64(part, image);
  }
  return part;
}

const DATA_URL = /^data:([\w.+-]+\/[\w.+-]+)?(;[^,]*)?;base64,/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** Long strings are surely base64 image data (file paths are short); only their head is checked. */
const BASE64_CHECKED_PREFIX = 1024;

function describeBase64(part: ImagePart, image: string): void {
  let data = image;
  const dataUrl = DATA_URL.exec(image);
  if (dataUrl !== null) {
    if (dataUrl[1] !== undefined) part.mime_type = dataUrl[1];
    data = image.slice(dataUrl[0].length);
  }
  if (data.length === 0 || data.length % 4 !== 0) return;
  if (!BASE64.test(data.length > BASE64_CHECKED_PREFIX ? data.slice(0, BASE64_CHECKED_PREFIX) : data)) return;
  const padding = data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0;
  part.size = (data.length / 4) * 3 - padding;
  if (part.mime_type === undefined) {
    const mimeType = sniffBase64(data);
    if (mimeType !== undefined) part.mime_type = mimeType;
  }
}

function sniffBytes(bytes: Uint8Array): string | undefined {
  const at = (i: number) => bytes[i];
  if (at(0) === 0xff && at(1) === 0xd8 && at(2) === 0xff) return 'image/jpeg';
  if (at(0) === 0x89 && at(1) === 0x50 && at(2) === 0x4e && at(3) === 0x47) return 'image/png';
  if (at(0) === 0x47 && at(1) === 0x49 && at(2) === 0x46) return 'image/gif';
  if (at(0) === 0x52 && at(1) === 0x49 && at(2) === 0x46 && at(3) === 0x46 && at(8) === 0x57 && at(9) === 0x45) {
    return 'image/webp';
  }
  return undefined;
}

function sniffBase64(data: string): string | undefined {
  if (data.startsWith('/9j/')) return 'image/jpeg';
  if (data.startsWith('iVBORw0KGgo')) return 'image/png';
  if (data.startsWith('R0lGOD')) return 'image/gif';
  if (data.startsWith('UklGR') && data.slice(12, 16) === 'RUJQ') return 'image/webp';
  return undefined;
}
