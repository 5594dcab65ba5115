/*
 * The PromQL in the Grafana dashboards: every Prometheus target's `expr` and every query variable, with
 * Grafana's variables replaced by values Prometheus accepts, so each can be sent to /api/v1/query.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deployDir } from './tools.js';

export const dashboardsDir = join(deployDir, 'grafana', 'dashboards');

export interface DashboardExpr {
  dashboard: string;
  /** Panel title, or `$name` for a template variable. */
  where: string;
  /** As written in the JSON. */
  raw: string;
  /** With Grafana variables substituted: ready for Prometheus. */
  expr: string;
}

export function loadDashboards(): { file: string; json: any }[] {
  return readdirSync(dashboardsDir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => ({ file: f, json: JSON.parse(readFileSync(join(dashboardsDir, f), 'utf8')) }));
}

/** The row whose panels only `@ollama-otel/proxy` feeds (its HTTP server side): an app has no data there. */
export const PROXY_ROW = 'Proxy (@ollama-otel/proxy)';

/** Panels including those nested in collapsed rows. */
export function allPanels(dashboard: any): any[] {
  return (dashboard.panels ?? []).flatMap((p: any) => [p, ...(p.panels ?? [])]);
}

/** Each panel with the title of the row it sits under (a collapsed row's own panels, or the panels after an open row). */
function panelsWithRows(dashboard: any): { panel: any; row: string | undefined }[] {
  const out: { panel: any; row: string | undefined }[] = [];
  let row: string | undefined;
  for (const panel of dashboard.panels ?? []) {
    if (panel.type === 'row') {
      row = panel.title;
      for (const nested of panel.panels ?? []) out.push({ panel: nested, row });
      if (panel.collapsed) row = undefined;
    } else {
      out.push({ panel, row });
    }
  }
  return out;
}

const isPrometheus = (ds: any) => ds === undefined || ds === null || ds.type === 'prometheus';

/**
 * Grafana variables -> PromQL-safe values: multi-value "All" selections become `.*` (they are only used in =~
 * matchers), ranges become fixed durations. `values` overrides per variable.
 */
export function substituteVariables(expr: string, values: Record<string, string> = {}): string {
  const builtins: Record<string, string> = {
    __rate_interval: '1m',
    __interval: '15s',
    __range: '1h',
    ...values,
  };
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (_m, braced: string, plain: string) => {
    const name = braced ?? plain;
    return builtins[name] ?? '.*';
  });
}

/** `label_values(selector, label)` -> a PromQL query returning the same label values. */
export function variableToPromQL(query: string): string {
  const m = query.trim().match(/^label_values\((.*),\s*(\w+)\s*\)$/s);
  if (m) return `count by (${m[2]}) (${m[1]})`;
  const l = query.trim().match(/^label_values\(\s*(\w+)\s*\)$/);
  if (l) return `count by (${l[1]}) ({${l[1]}!=""})`;
  const q = query.trim().match(/^query_result\((.*)\)$/s);
  if (q) return q[1];
  throw new Error(`unsupported variable query: ${query}`);
}

export interface ExpressionFilter {
  /** Leave out the panels under these rows (e.g. {@link PROXY_ROW} for traffic that no proxy served). */
  skipRows?: string[];
  /** Only the panels under these rows (and no variable queries). */
  onlyRows?: string[];
}

export function dashboardExpressions(
  values: Record<string, string> = {},
  { skipRows = [], onlyRows }: ExpressionFilter = {},
): DashboardExpr[] {
  const out: DashboardExpr[] = [];
  for (const { file, json } of loadDashboards()) {
    for (const v of onlyRows ? [] : (json.templating?.list ?? [])) {
      if (v.type !== 'query' || !isPrometheus(v.datasource)) continue;
      const raw = typeof v.query === 'string' ? v.query : v.query.query;
      out.push({ dashboard: file, where: `$${v.name}`, raw, expr: substituteVariables(variableToPromQL(raw), values) });
    }
    for (const { panel, row } of panelsWithRows(json)) {
      if (row !== undefined && skipRows.includes(row)) continue;
      if (onlyRows && (row === undefined || !onlyRows.includes(row))) continue;
      for (const target of panel.targets ?? []) {
        if (!target.expr || !isPrometheus(target.datasource ?? panel.datasource)) continue;
        out.push({
          dashboard: file,
          where: `${panel.title} [${target.refId}]`,
          raw: target.expr,
          expr: substituteVariables(target.expr, values),
        });
      }
    }
  }
  return out;
}
