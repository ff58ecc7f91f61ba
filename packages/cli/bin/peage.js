#!/usr/bin/env node
// The `peage` command. This file is committed (the build output is not), so that npm can link
// the command at install time, before `prepare` has compiled dist/.
import "../dist/src/main.js";
