/*
 * The one rule for tests whose tools or registries may be out of reach: skip locally with the reason printed,
 * fail in CI.
 */

/**
 * A skip reason for a group of deploy tests: they skip only when their tools are missing, unless
 * OLLAMA_OTEL_REQUIRE_DEPLOY_TOOLS=1 (CI), which turns a missing tool into a failure of every file that needs it.
 */
export function skipReason(what: string, problem: string | undefined, fix: string): string | undefined {
  if (!problem) return undefined;
  const reason = `${what} unavailable (${problem}); run \`${fix}\``;
  if (process.env.OLLAMA_OTEL_REQUIRE_DEPLOY_TOOLS === '1') {
    throw new Error(`${reason} (OLLAMA_OTEL_REQUIRE_DEPLOY_TOOLS=1)`);
  }
  console.warn(`SKIPPING deploy/ tests: ${reason}`);
  return reason;
}
