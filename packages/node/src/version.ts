// Kept in step with package.json by test/version.test.ts.
export const PACKAGE_NAME = '@ollama-otel/node';
export const PACKAGE_VERSION = '0.1.0';
/** User-Agent of our OTLP exports (the OTLP exporter spec's form, with the distro as product). */
export const USER_AGENT = `OTel-OTLP-Exporter-JavaScript ${PACKAGE_NAME}/${PACKAGE_VERSION}`;
