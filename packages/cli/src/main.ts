#!/usr/bin/env node
/** The `peage` binary: runs the command line and exits with its status (see cli.ts). */
import { runPeage } from "./cli.js";

process.exitCode = await runPeage(process.argv.slice(2));
