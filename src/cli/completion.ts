/**
 * `kiln completion bash|zsh|fish`: a shell script completing kiln's commands, subcommands and
 * flags (taken from the commander program, so they never drift) and the labels of the workspace
 * (asked of kiln at completion time: `kiln __complete labels`, which prints one a line). Pure:
 * a description of the commands in, a script out.
 */

export interface CompletionCommand {
  name: string;
  description: string;
  /** Flags as typed: `--jobs`, `-j`. */
  flags: string[];
  subcommands: CompletionCommand[];
  /** Takes labels or patterns as arguments. */
  takesLabels: boolean;
}

export const COMPLETION_SHELLS = ["bash", "zsh", "fish"] as const;
export type CompletionShell = (typeof COMPLETION_SHELLS)[number];

/** Single-quoted for sh: safe for any text. */
const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

export function completionScript(shell: CompletionShell, commands: readonly CompletionCommand[], globalFlags: readonly string[]): string {
  switch (shell) {
    case "bash":
      return bashScript(commands, globalFlags);
    case "zsh":
      return zshScript(commands, globalFlags);
    case "fish":
      return fishScript(commands, globalFlags);
  }
}

function bashScript(commands: readonly CompletionCommand[], globalFlags: readonly string[]): string {
  const cases: string[] = [];
  // Subcommands first: "cache gc" before "cache ...".
  for (const command of commands) {
    for (const sub of command.subcommands) cases.push(`    ${quote(`${command.name} ${sub.name}`)}) words=${quote([...sub.flags, ...globalFlags].join(" "))}; labels=${sub.takesLabels ? 1 : 0} ;;`);
  }
  for (const command of commands) {
    const words = [...command.flags, ...globalFlags, ...command.subcommands.map((s) => s.name)];
    cases.push(`    ${quote(`${command.name} `)}*) words=${quote(words.join(" "))}; labels=${command.takesLabels ? 1 : 0} ;;`);
  }
  return `# kiln completion for bash. Load it with: source <(kiln completion bash)
# (or save it to ~/.local/share/bash-completion/completions/kiln)
_kiln() {
  local line="\${COMP_LINE:0:\$COMP_POINT}"
  # The word being completed, split at spaces only: labels hold ":", where bash splits words.
  local cur="\${line##* }"
  local -a args
  read -r -a args <<< "\${line% *}"
  local cmd="" sub="" i
  for ((i = 1; i < \${#args[@]}; i++)); do
    case "\${args[i]}" in
      -*) ;;
      *) if [ -z "$cmd" ]; then cmd="\${args[i]}"; elif [ -z "$sub" ]; then sub="\${args[i]}"; fi ;;
    esac
  done
  local words="" labels=0
  if [ -z "$cmd" ]; then
    words=${quote([...commands.map((c) => c.name), ...globalFlags, "--help", "--version"].join(" "))}
  else
    case "$cmd $sub" in
${cases.join("\n")}
    esac
  fi
  local -a found=()
  # bash replaces only the text after the word's last ":", so that prefix is taken off.
  local before="\${cur%"\${cur##*:}"}" word
  if [ "$labels" = 1 ] && [[ "$cur" != -* ]]; then
    while IFS= read -r word; do
      [[ "$word" == "$cur"* ]] && found+=("\${word#"$before"}")
    done < <(kiln __complete labels 2>/dev/null)
  fi
  for word in $words; do [[ "$word" == "$cur"* ]] && found+=("\${word#"$before"}"); done
  COMPREPLY=("\${found[@]}")
}
complete -o default -F _kiln kiln
`;
}

function zshScript(commands: readonly CompletionCommand[], globalFlags: readonly string[]): string {
  const describe = (list: readonly CompletionCommand[]) => list.map((c) => quote(`${c.name}:${c.description.replace(/:/g, "\\:")}`)).join(" ");
  const cases: string[] = [];
  for (const command of commands) {
    const flags = [...command.flags, ...globalFlags].map(quote).join(" ");
    if (command.subcommands.length > 0) {
      cases.push(`    ${command.name})
      if (( CURRENT == 3 )); then _describe 'subcommand' ${"subs"}_${command.name.replace(/\W/g, "_")}; else compadd -- ${command.subcommands.flatMap((s) => s.flags).map(quote).join(" ")} ${globalFlags.map(quote).join(" ")}; fi ;;`);
    } else {
      cases.push(`    ${command.name})
      compadd -- ${flags}${command.takesLabels ? `
      compadd -- \${(f)"$(kiln __complete labels 2>/dev/null)"}` : ""} ;;`);
    }
  }
  const subLists = commands
    .filter((c) => c.subcommands.length > 0)
    .map((c) => `  local -a subs_${c.name.replace(/\W/g, "_")}=(${describe(c.subcommands)})`);
  return `#compdef kiln
# kiln completion for zsh. Load it with: source <(kiln completion zsh)
# (or save it as _kiln in a directory of your $fpath)
_kiln() {
  local -a commands=(${describe(commands)})
${subLists.join("\n")}
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  case "\${words[2]}" in
${cases.join("\n")}
  esac
}
compdef _kiln kiln
`;
}

function fishScript(commands: readonly CompletionCommand[], globalFlags: readonly string[]): string {
  const lines = [
    "# kiln completion for fish. Load it with: kiln completion fish | source",
    "# (or save it to ~/.config/fish/completions/kiln.fish)",
    "complete -c kiln -f",
    `complete -c kiln -n __fish_use_subcommand -a ${quote(commands.map((c) => c.name).join(" "))}`,
  ];
  for (const command of commands) {
    lines.push(`complete -c kiln -n '__fish_seen_subcommand_from ${command.name}' -d ${quote(command.description)}`);
    for (const flag of [...command.flags, ...globalFlags]) {
      const option = flag.startsWith("--") ? `-l ${flag.slice(2)}` : `-s ${flag.slice(1)}`;
      lines.push(`complete -c kiln -n '__fish_seen_subcommand_from ${command.name}' ${option}`);
    }
    if (command.subcommands.length > 0) lines.push(`complete -c kiln -n '__fish_seen_subcommand_from ${command.name}' -a ${quote(command.subcommands.map((s) => s.name).join(" "))}`);
    if (command.takesLabels) lines.push(`complete -c kiln -n '__fish_seen_subcommand_from ${command.name}' -a '(kiln __complete labels 2>/dev/null)'`);
  }
  return `${lines.join("\n")}\n`;
}
