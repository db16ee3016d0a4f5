/**
 * Name pools for the generator. Deliberately mixed: accents, non-Latin scripts, apostrophes,
 * commas and quotes, and values a spreadsheet would execute (`=`, `+`, `-`, `@` first).
 */

export const FIRST_NAMES = [
  'Ada', 'Alan', 'Grace', 'Linus', 'Zoë', 'José', 'François', 'Łukasz', 'Søren', 'Björn', 'Chloé', 'Dmitri',
  'Émilie', 'Fatima', 'Giulia', 'Hiroshi', 'Ingrid', 'Jürgen', 'Kwame', 'Leilani', 'Mateo', 'Nadia', 'Oğuz',
  'Priya', 'Quentin', 'Siobhán', 'Tomás', 'Uxía', 'Wei', 'Xiomara', 'Yusuf', 'Aoife', 'Bogdan', 'Carmen',
  'Declan', 'Eszter', 'Farid', 'Gunnhild', 'Hana', 'Ilse', 'Jalen', 'Keanu', 'Lucía', 'Mihai', 'Nkechi',
  'Olamide', 'Pål', 'Rania', 'Sanjay', 'Thảo', 'Ulla', 'Valentina', 'Wojciech', 'Yara', 'Zsófia', 'Ángel',
];

export const LAST_NAMES = [
  'Lovelace', 'Turing', 'Hopper', 'Torvalds', 'Ångström', 'Müller', 'Nguyễn', "O'Brien", 'Smith-Jones',
  'García', 'Dvořák', 'Kowalski', 'Østergaard', 'Núñez', 'Çelik', 'Schäfer', 'Zhang', 'Okafor', 'Haddad',
  'Takahashi', 'Ivanova', 'Fernández', 'Lindqvist', 'Mbeki', 'Papadopoulos', 'Rossi', 'Svensson', 'Van der Berg',
  'Wójcik', 'Yilmaz', 'Abernathy', 'Baptiste', 'Castellanos', 'Delacroix', 'Eriksen', 'Fitzgerald', 'Gallagher',
];

/** Whole names in scripts where "first last" does not apply. */
export const WHOLE_NAMES = ['李雷', '韩梅梅', '佐藤 花子', '김민준', 'Ελένη Παπαδοπούλου', 'Иван Петров', 'محمد علي', 'Nguyễn Văn An', 'שרה כהן'];

/** Display names that a spreadsheet would treat as formulas, and ones that break naive CSV. */
export const DANGEROUS_NAMES = [
  "=cmd|' /C calc'!A0",
  '+1 555 0100 (on-call)',
  "-Robert'); DROP TABLE users;--",
  '@channel Bot',
  '=HYPERLINK("https://evil.example","click me")',
  'Smith, "Jo"',
  '+SUM(A1:A9)',
  '-2+3',
  '@SUM(1+1)',
];

export const GROUP_WORDS = [
  'Developers', 'Administrators', 'Contractors', 'Release Managers', 'Security', 'QA', 'SRE', 'Data Science',
  'Mobile', 'Frontend', 'Backend', 'Platform', 'Support', 'Interns', 'Auditors', 'Design', 'Finance Ops',
  'Équipe Qualité', '開発者', 'Reviewers', 'Build Bots', 'Architects', 'Partners', 'Integrations',
];

export const DANGEROUS_GROUP_NAMES = ['=Finance Ops', '+Ops On-Call', '-Interns', '@Security Team'];

export const PROJECT_WORDS = [
  'Platform', 'Payments', 'Data Engineering', 'Mobile', 'Infrastructure', 'Identity', 'Search', 'Growth',
  'Billing', 'Analytics', 'Developer Tools', 'Marketplace', 'Messaging', 'Observability', 'Compliance',
  'Données & Analytics', '開発基盤', 'Logística', 'Kundenportal', 'Ödeme',
];

export const DANGEROUS_PROJECT_NAMES = ['=Finance Tools', '+Growth Experiments', '-Legacy', '@Security'];

export const REPO_WORDS_A = [
  'api', 'web', 'ios', 'android', 'billing', 'auth', 'search', 'ledger', 'gateway', 'notifications', 'reports',
  'ingest', 'etl', 'ml', 'terraform', 'helm', 'docs', 'design-system', 'cli', 'sdk', 'worker', 'scheduler',
  'données', 'café', 'façade', 'über',
];

export const REPO_WORDS_B = [
  'service', 'app', 'frontend', 'backend', 'pipeline', 'models', 'modules', 'charts', 'tools', 'client', 'server',
  'core', 'infra', 'config', 'scripts', 'tests', 'proxy', 'jobs', 'lib', 'site',
];

export const LANGUAGES = ['typescript', 'python', 'go', 'java', 'kotlin', 'swift', 'ruby', 'rust', 'hcl', 'shell', ''];

export const DEPLOY_KEY_LABELS = [
  'jenkins-ci', 'ArgoCD (prod)', 'github-mirror', 'backup-bot', 'release pipeline', 'terraform cloud',
  '=HYPERLINK("https://evil.example","deploy")', '+deploy-bot', 'Łódź build farm', 'old laptop key',
];

/**
 * A planted deploy key label that is markup: every page must show it as text (the reviewer web page
 * escapes everything; a test checks no element of it appears).
 */
export const HTML_DANGEROUS_LABEL = '<img src=x onerror=alert(1)> jenkins-ci';

/** ASCII handle from a display name, for usernames and email local parts. */
export function handleOf(name: string): string {
  const ascii = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '.')
    .replace(/^\.+|\.+$/g, '');
  return ascii || 'user';
}
