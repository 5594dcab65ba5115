import { diag } from '@opentelemetry/api';
import { PACKAGE_NAME } from './version.js';

/** Runs one setup step; a failure is logged through diag and the step skipped (undefined). */
export function guard<T>(what: string, work: () => T): T | undefined {
  try {
    return work();
  } catch (err) {
    diag.error(`${PACKAGE_NAME}: could not set up ${what}; continuing without it`, err);
    return undefined;
  }
}
