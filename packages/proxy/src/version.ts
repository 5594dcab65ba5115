// Kept in step with package.json by test/config.test.ts.
export const PACKAGE_NAME = '@ollama-otel/proxy';
export const PACKAGE_VERSION = '0.1.0';
