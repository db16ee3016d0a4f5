import { readFile } from 'node:fs/promises';
import { type Command, Option } from 'commander';
import { RosterError } from '../../errors.ts';
import { PRESET_NAMES, type PresetName, parseMapping } from '../../identity/people-file.ts';
import { DEFAULT_PEOPLE_SOURCE, importPeople } from '../../identity/people.ts';
import { plural } from '../../text.ts';
import type { CliHost } from '../host.ts';

export function registerPeople(program: Command, host: CliHost): void {
  const people = program.command('people').description('who is behind each account: HR and identity-provider exports');
  people
    .command('import')
    .description('import a people file (CSV) as a snapshot of its source; someone missing from a later file of the same source is marked gone, never deleted')
    .argument('<file>', 'CSV export (UTF-8; comma, semicolon or tab separated)')
    .option('--source <name>', `which source the file is a snapshot of (default: ${DEFAULT_PEOPLE_SOURCE})`)
    .option('--map <field=Column,…>', 'column of each field, overriding the preset: email, name, employee_id, status, termination_date, manager_email, department, type, account_id')
    .addOption(new Option('--preset <name>', 'which export the columns come from (default: plain)').choices(PRESET_NAMES))
    .action(
      host.run(async (ctx, file: string, options: { source?: string; map?: string; preset?: PresetName }) => {
        let bytes: Buffer;
        try {
          bytes = await readFile(file);
        } catch (error) {
          throw new RosterError('input_invalid', `Cannot read ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}.`, { cause: error });
        }
        const map = parseMapping(options.map);
        const handle = await ctx.database();
        const outcome = await importPeople(handle.db, { name: file, bytes }, { source: options.source, preset: options.preset, map });
        ctx.out(
          `Imported ${plural(outcome.people, 'person', 'people')} into source "${outcome.source}" (import ${outcome.importId}): ${outcome.added} new, ${outcome.changed} changed, ${outcome.unchanged} unchanged, ${outcome.gone} gone.`,
        );
        ctx.out(`Columns: ${Object.entries(outcome.mapping).map(([f, c]) => `${f}=${c}`).join(', ')}.`);
        return 0;
      }),
    );
}
