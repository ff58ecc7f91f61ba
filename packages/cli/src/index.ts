/**
 * @peage/cli: the `peage` command, also callable from a program (an installer, a test) without a child process.
 * Output goes to the process's stdout and stderr as on the command line.
 */
export { commandNames, runPeage } from "./cli.js";
