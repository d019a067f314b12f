/** Which command-line targets are config files (by name alone, so commands can tell cheaply). */
const CONFIG_FILE = /(\.config\.(c|m)?js|\.json5?|\.ya?ml)$/;

export function isConfigFile(path: string): boolean {
  return CONFIG_FILE.test(path);
}
