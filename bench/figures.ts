/**
 * What the bench prints and records: figures grouped by section, each beside its target, and the
 * same table as Markdown for BENCHMARKS.md.
 */

export const SECTIONS = {
  requests: '1. Requests per full sync vs the minimum',
  incremental: '2. Incremental sync',
  rateLimited: '3. Rate-limited wall time',
  throughput: '4. Sync throughput without a rate limit',
  ingest: '5. Ingest',
  reports: '6. Reports',
  simulator: '7. Simulator (connectors/bitbucket-cloud/simulator) on its own',
  datacenter: '8. Bitbucket Data Center: requests vs the minimum and full sync time',
  replicas: '9. More than one machine: roster serve replicas on one PostgreSQL server',
} as const;
export type SectionId = keyof typeof SECTIONS;

export type FigureStatus = 'pass' | 'miss' | 'info';

export interface Figure {
  section: SectionId;
  label: string;
  value: string;
  target: string;
  status: FigureStatus;
}

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  platform: string;
  postgres: string | null;
  pglite: string;
  loadAverageStart: number[];
  loadAverageEnd: number[];
}

export interface BenchReport {
  mode: 'smoke' | 'full';
  command: string;
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  notes: string[];
  figures: Figure[];
  /** Every worker's raw output, for the record. */
  raw: Record<string, unknown>;
}

export const fmt = {
  int: (n: number): string => Math.round(n).toLocaleString('en-US'),
  num: (n: number, digits = 2): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }),
  pct: (n: number, digits = 1): string => `${(n * 100).toFixed(digits)} %`,
  s: (ms: number): string => `${(ms / 1000).toFixed(1)} s`,
  mib: (n: number): string => `${Math.round(n).toLocaleString('en-US')} MiB`,
  bytes: (n: number): string => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`),
  h: (hours: number): string => `${hours.toFixed(2)} h`,
};

const MARK: Record<FigureStatus, string> = { pass: 'pass', miss: 'MISS', info: '' };

function rows(figures: Figure[]): Array<{ section: SectionId; cells: string[] }> {
  return figures.map((f) => ({ section: f.section, cells: [f.label, f.value, f.target, MARK[f.status]] }));
}

const HEADER = ['figure', 'value', 'target', 'result'];

/** A plain-text table per section, columns padded to fit. */
export function textTable(figures: Figure[]): string {
  const all = rows(figures);
  const widths = HEADER.map((h, i) => Math.max(h.length, ...all.map((r) => (r.cells[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  const out: string[] = [];
  for (const [id, title] of Object.entries(SECTIONS) as Array<[SectionId, string]>) {
    const inSection = all.filter((r) => r.section === id);
    if (inSection.length === 0) continue;
    out.push('', title, line(HEADER), widths.map((w) => '-'.repeat(w)).join('  '));
    for (const r of inSection) out.push(line(r.cells));
  }
  return out.join('\n');
}

const escapeCell = (s: string): string => s.replace(/\|/g, '\\|');

export function markdownTable(figures: Figure[]): string {
  const out: string[] = [];
  for (const [id, title] of Object.entries(SECTIONS) as Array<[SectionId, string]>) {
    const inSection = rows(figures).filter((r) => r.section === id);
    if (inSection.length === 0) continue;
    out.push(`### ${title}`, '', `| ${HEADER.join(' | ')} |`, `|${HEADER.map(() => '---').join('|')}|`);
    for (const r of inSection) out.push(`| ${r.cells.map((c, i) => (i === 3 && c === 'MISS' ? '**MISS**' : escapeCell(c))).join(' | ')} |`);
    out.push('');
  }
  return out.join('\n');
}

export function machineLine(m: MachineInfo): string {
  const load = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' / ');
  return `${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB RAM, Node ${m.node}, ${m.platform}; PostgreSQL ${m.postgres ?? 'not available'}; PGlite ${m.pglite}; load average (1/5/15 min) ${load(m.loadAverageStart)} at start, ${load(m.loadAverageEnd)} at end`;
}
