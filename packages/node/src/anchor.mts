/**
 * The URL of this file, i.e. a location inside this package (`dist/esm/` or `dist/cjs/`), from which its own
 * dependencies' files can be resolved. ESM-only syntax (`import.meta`), hence the `.mts` file: the CommonJS build
 * loads it with `require()` (synchronous `require` of ES modules, Node >= 22.12).
 */
export const packageLocation: string = import.meta.url;
