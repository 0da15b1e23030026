/**
 * Every PromQL expression Geowarden ships: the Grafana dashboard's panel queries and template
 * variable, and the Prometheus recording and alerting rules. Grafana's variables are replaced by
 * values Prometheus accepts, so the expressions can be checked by promtool or run against a real
 * Prometheus as they are.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { projectRoot } from '../../src/geo/default-paths';

export const DASHBOARD_FILE = join('config', 'grafana', 'geowarden-dashboard.json');
export const RULES_FILE = join('config', 'prometheus', 'geowarden.rules.yml');

export type PromqlSource = 'dashboard' | 'variable' | 'recording rule' | 'alert';

export interface PromqlExpression {
  source: PromqlSource;
  /** Panel title and refId, variable name, recorded series or alert name. */
  name: string;
  /** With Grafana variables substituted. */
  expr: string;
  /** As written in the file. */
  original: string;
}

/**
 * Grafana's built-in intervals become fixed durations (5m covers four 15s scrapes, what
 * $__rate_interval would pick), and the gateway selection "All" (.*).
 */
export function substituteGrafanaVariables(expr: string): string {
  return expr
    .replace(/\$__rate_interval|\$\{__rate_interval\}/g, '5m')
    .replace(/\$__interval|\$\{__interval\}/g, '1m')
    .replace(/\$__range_s\b|\$\{__range_s\}/g, '3600')
    .replace(/\$__range|\$\{__range\}/g, '1h')
    .replace(/\$\{instance(?::[a-z]+)?\}|\$instance\b/g, '.*');
}

interface DashboardPanel {
  title?: string;
  targets?: { expr?: string; refId?: string }[];
  panels?: DashboardPanel[];
}

interface Dashboard {
  panels?: DashboardPanel[];
  templating?: { list?: { name: string; type: string; definition?: string; query?: unknown }[] };
}

interface RulesFile {
  groups: { name: string; rules: { record?: string; alert?: string; expr: string }[] }[];
}

function panelExpressions(panels: readonly DashboardPanel[]): PromqlExpression[] {
  return panels.flatMap((panel) => [
    ...(panel.targets ?? [])
      .filter((t) => typeof t.expr === 'string' && t.expr.trim() !== '')
      .map((t) => ({ source: 'dashboard' as const, name: `${panel.title ?? '(untitled)'} ${t.refId ?? ''}`.trim(), expr: substituteGrafanaVariables(t.expr!), original: t.expr! })),
    ...panelExpressions(panel.panels ?? []),
  ]);
}

/**
 * A query variable's label_values(metric, label) is not PromQL; the equivalent query asks for the
 * same series, which must exist or the gateway picker stays empty.
 */
function variableExpressions(dashboard: Dashboard): PromqlExpression[] {
  return (dashboard.templating?.list ?? [])
    .filter((v) => v.type === 'query' && typeof v.definition === 'string')
    .map((v) => {
      const m = /^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$/.exec(v.definition!.trim());
      if (!m) throw new Error(`dashboard variable ${v.name}: cannot translate ${v.definition}`);
      return { source: 'variable' as const, name: v.name, expr: `group by (${m[2]}) (${m[1]})`, original: v.definition! };
    });
}

export function promqlExpressions(root: string = projectRoot()): PromqlExpression[] {
  const dashboard = JSON.parse(readFileSync(join(root, DASHBOARD_FILE), 'utf8')) as Dashboard;
  const rules = parseYaml(readFileSync(join(root, RULES_FILE), 'utf8')) as RulesFile;
  const ruleExpressions = rules.groups.flatMap((g) =>
    g.rules.map((r) => ({
      source: r.alert !== undefined ? ('alert' as const) : ('recording rule' as const),
      name: r.alert ?? r.record ?? '(unnamed)',
      expr: r.expr.trim(),
      original: r.expr,
    })),
  );
  return [...panelExpressions(dashboard.panels ?? []), ...variableExpressions(dashboard), ...ruleExpressions];
}

/**
 * The expressions alone, for a test that runs them against a Prometheus that has scraped the
 * daemon. Alert expressions end in their threshold and are empty while all is well; use
 * promqlExpressions() and its `source` to expect data only from the others.
 */
export function dashboardAndRuleExpressions(): string[] {
  return promqlExpressions().map((e) => e.expr);
}
