// Entry points of the subcommands; main.cc dispatches on argv[1].
#pragma once

namespace bulkhead {

// Each takes the arguments after the subcommand name (argv[0] is "bulkhead <cmd>").
int cmd_exec(int argc, char** argv);
int cmd_doctor(int argc, char** argv);
int cmd_run(int argc, char** argv);
int cmd_merge(int argc, char** argv);
int cmd_runs(int argc, char** argv);  // src/cli/cmd_records.cc
int cmd_show(int argc, char** argv);
int cmd_repro(int argc, char** argv);  // src/cli/cmd_diagnose.cc
int cmd_bisect(int argc, char** argv);

}  // namespace bulkhead
