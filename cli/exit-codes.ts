/** Exit codes shared by every subcommand (a module of its own so `beacon --version` loads nothing else). */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;
