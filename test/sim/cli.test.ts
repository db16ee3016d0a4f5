/** `roster sim` behaviour through the standalone entry: one JSON line, serves until signalled. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { SimCredentials } from './types.ts';

describe('runSimCommand', () => {
  it('prints exactly one JSON line with baseUrl, workspace and credentials, serves, and stops on SIGTERM', async () => {
    const main = fileURLToPath(new URL('./main.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', main, '--profile', 'small', '--seed', '3', '--faults', '5xx:nth=2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        stdout += c.toString();
        const nl = stdout.indexOf('\n');
        if (nl >= 0) resolve(stdout.slice(0, nl));
      });
      child.on('exit', () => reject(new Error(`exited early: ${stderr}`)));
    });
    const info = JSON.parse(line) as { baseUrl: string; workspace: string; credentials: SimCredentials };
    expect(Object.keys(info)).toEqual(['baseUrl', 'workspace', 'credentials']);
    expect(info.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(info.workspace).toBe('acme');
    expect(Object.keys(info.credentials).sort()).toEqual(['adminApiToken', 'appPassword', 'memberApiToken', 'oauth', 'projectAccessToken', 'repositoryAccessToken', 'workspaceAccessToken']);
    const { email, token } = info.credentials.adminApiToken;
    const h = { authorization: `Basic ${Buffer.from(`${email}:${token}`).toString('base64')}` };
    expect((await fetch(`${info.baseUrl}/2.0/repositories/${info.workspace}`, { headers: h })).status).toBe(200);
    expect((await fetch(`${info.baseUrl}/2.0/repositories/${info.workspace}`, { headers: h })).status).toBe(500);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stdout.trim().split('\n')).toHaveLength(1);
  }, 30_000);
});
