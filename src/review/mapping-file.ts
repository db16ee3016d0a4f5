import { RosterError } from '../errors.ts';
import { readCsv } from './files.ts';

/**
 * The reviewers file of `--reviewers-file`: CSV with the columns `project`, `repository` and
 * `reviewer`. A row names a project (key) or a repository (slug or uuid) and who reviews it; a row
 * naming neither is the default for everything else (other repositories, projects, the workspace).
 * A repository row wins over its project's row, which wins over the default.
 */
export interface MappingRow {
  line: number;
  project: string | null;
  repository: string | null;
  reviewer: string;
}

/** Parses the file; every problem of the file is listed at once. */
export function parseMappingFile(name: string, text: string): MappingRow[] {
  const sheet = readCsv(name, Buffer.from(text, 'utf8'));
  const missing = ['reviewer'].filter((c) => !sheet.header.includes(c));
  if (missing.length > 0 || (!sheet.header.includes('project') && !sheet.header.includes('repository'))) {
    throw new RosterError('input_invalid', `${name}: the header must have the columns project, repository and reviewer (found: ${sheet.header.join(', ') || 'none'}). Example:\nproject,repository,reviewer\nPLAT,,alice@acme.example\n,api-gateway,{uuid of the owner}\n,,security-lead@acme.example`);
  }
  const problems: string[] = [];
  const rows: MappingRow[] = [];
  const seen = new Map<string, number>();
  for (const r of sheet.rows) {
    const project = (r.cells.project ?? '').trim() || null;
    const repository = (r.cells.repository ?? '').trim() || null;
    const reviewer = (r.cells.reviewer ?? '').trim();
    if (reviewer === '') {
      problems.push(`line ${r.line}: no reviewer; name one by e-mail, uuid, account id or display name`);
      continue;
    }
    if (project && repository) {
      problems.push(`line ${r.line}: names both project ${project} and repository ${repository}; give one per row (a repository row already wins over its project's)`);
      continue;
    }
    const key = repository ? `repository ${repository.toLowerCase()}` : project ? `project ${project.toLowerCase()}` : 'default';
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      problems.push(`line ${r.line}: ${key === 'default' ? 'a second default row (no project, no repository)' : `${key} again`} (first on line ${earlier}); keep one row`);
      continue;
    }
    seen.set(key, r.line);
    rows.push({ line: r.line, project, repository, reviewer });
  }
  if (problems.length > 0) throw new RosterError('input_invalid', `${name}: nothing was created:\n  ${problems.join('\n  ')}`);
  return rows;
}
