// Parsing `bulkhead run` options and `[tool.pytest-bulkhead]` (see run_options.h).
#include "src/cli/run_options.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>

#include "sandbox/error.h"
#include "sandbox/profile.h"
#include "src/cli/option_values.h"
#include "src/cli/toml.h"
#include "src/diagnose/replay_list.h"

namespace bulkhead {
namespace {

namespace fs = std::filesystem;

std::optional<int> parse_workers(const std::string& text) {
  if (text == "auto" || text == "logical") return std::nullopt;
  const uint64_t count = parse_count(text, "a worker count or 'auto'");
  if (count == 0 || count > 4096) {
    throw UserError("expected a worker count from 1 to 4096 or 'auto', got '" + text + "'");
  }
  return static_cast<int>(count);
}

DistMode parse_dist(const std::string& text) {
  auto mode = parse_dist_mode(text);
  if (!mode) {
    throw UserError("expected one of load, loadfile, loadscope, loadgroup, got '" + text + "'");
  }
  return *mode;
}

std::string parse_choice(const std::string& text, const std::vector<std::string>& choices) {
  if (std::find(choices.begin(), choices.end(), text) == choices.end()) {
    std::string expected;
    for (std::size_t i = 0; i < choices.size(); ++i) {
      expected += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + choices[i];
    }
    throw UserError("expected " + expected + ", got '" + text + "'");
  }
  return text;
}

std::string checked_write_through(const std::string& text) {
  if (auto problem = sandbox::write_through_problem(text)) throw UserError(*problem);
  return text;
}

std::string parse_color(const std::string& text) {
  if (text != "yes" && text != "no" && text != "auto") {
    throw UserError("expected yes, no or auto, got '" + text + "'");
  }
  return text;
}

// One setting by its config-file key; the CLI uses the same setters.
using Setter = std::function<void(RunOptions&, const std::string&)>;

const std::map<std::string, Setter>& setters() {
  static const std::map<std::string, Setter> table = {
      {"numprocesses", [](RunOptions& o, const std::string& v) { o.workers = parse_workers(v); }},
      {"profile", [](RunOptions& o, const std::string& v) { o.profile = v; }},
      {"memory", [](RunOptions& o, const std::string& v) { o.memory_bytes = parse_size(v); }},
      {"cpus", [](RunOptions& o, const std::string& v) { o.cpus = parse_positive(v, "cores"); }},
      {"pids", [](RunOptions& o, const std::string& v) { o.pids = parse_count(v, "a count"); }},
      {"nofile", [](RunOptions& o, const std::string& v) { o.nofile = parse_count(v, "a count"); }},
      {"timeout", [](RunOptions& o, const std::string& v) { o.timeout_s = parse_duration(v); }},
      {"session_timeout",
       [](RunOptions& o, const std::string& v) { o.session_timeout_s = parse_duration(v); }},
      {"dist", [](RunOptions& o, const std::string& v) { o.dist = parse_dist(v); }},
      {"junitxml", [](RunOptions& o, const std::string& v) { o.junitxml = v; }},
      {"json", [](RunOptions& o, const std::string& v) { o.json_path = v; }},
      {"html", [](RunOptions& o, const std::string& v) { o.html_path = v; }},
      {"trace", [](RunOptions& o, const std::string& v) { o.trace_path = v; }},
      {"python", [](RunOptions& o, const std::string& v) { o.python = v; }},
      {"image", [](RunOptions& o, const std::string& v) { o.image = parse_image(v); }},
      {"max_worker_restart",
       [](RunOptions& o, const std::string& v) {
         o.max_worker_restart = static_cast<int>(parse_count(v, "a count"));
       }},
      {"require_isolation",
       [](RunOptions& o, const std::string& v) {
         if (v != "true" && v != "false") throw UserError("expected true or false, got " + v);
         o.require_isolation = v == "true";
       }},
      {"keep_logs",
       [](RunOptions& o, const std::string& v) {
         if (v != "true" && v != "false") throw UserError("expected true or false, got " + v);
         o.keep_logs = v == "true";
       }},
      {"color", [](RunOptions& o, const std::string& v) { o.color = parse_color(v); }},
      {"progress",
       [](RunOptions& o, const std::string& v) {
         o.progress = parse_choice(v, {"auto", "line", "plain", "off"});
       }},
      {"controller",
       [](RunOptions& o, const std::string& v) {
         o.controller = parse_choice(v, {"auto", "on", "off"});
       }},
      {"write_through",
       [](RunOptions& o, const std::string& v) {
         o.write_through.push_back(checked_write_through(v));
       }},
      {"output_cap",
       [](RunOptions& o, const std::string& v) { o.output_cap_bytes = parse_size(v); }},
      {"shard", [](RunOptions& o, const std::string& v) { o.shard = v; }},
      {"store_durations",
       [](RunOptions& o, const std::string& v) {
         if (v != "true" && v != "false") throw UserError("expected true or false, got " + v);
         o.store_durations = v == "true";
       }},
      {"durations_path", [](RunOptions& o, const std::string& v) { o.durations_path = v; }},
      {"zygote",
       [](RunOptions& o, const std::string& v) {
         o.zygote = parse_choice(v, {"on", "off", "auto"});
       }},
      {"spares",
       [](RunOptions& o, const std::string& v) {
         o.spares = parse_choice(v, {"on", "off", "auto"});
       }},
      {"isolate",
       [](RunOptions& o, const std::string& v) {
         o.isolate = parse_choice(v, {"test", "file", "worker"});
       }},
      {"setup", [](RunOptions& o, const std::string& v) { o.setup = v; }},
      {"teardown", [](RunOptions& o, const std::string& v) { o.teardown = v; }},
      {"worker_setup", [](RunOptions& o, const std::string& v) { o.worker_setup = v; }},
      {"worker_teardown", [](RunOptions& o, const std::string& v) { o.worker_teardown = v; }},
      {"setup_timeout",
       [](RunOptions& o, const std::string& v) { o.setup_timeout_s = parse_duration(v); }},
      {"retries",
       [](RunOptions& o, const std::string& v) {
         o.retries = static_cast<int>(std::min<uint64_t>(parse_count(v, "a count"), 100));
       }},
      {"flaky_result",
       [](RunOptions& o, const std::string& v) {
         o.flaky_result = parse_choice(v, {"pass", "fail"});
       }},
      {"top_memory",
       [](RunOptions& o, const std::string& v) {
         o.top_memory = static_cast<std::size_t>(parse_count(v, "a count of tests"));
       }},
      {"leaks", [](RunOptions& o,
                   const std::string& v) { o.leaks = parse_choice(v, {"warn", "fail", "off"}); }},
      {"record_dir", [](RunOptions& o, const std::string& v) { o.record_dir = v; }},
  };
  return table;
}

std::string where(const std::string& path, const toml::source_region& source) {
  return path + ":" + std::to_string(source.begin.line) + ":" + std::to_string(source.begin.column);
}

// A TOML scalar as the text the setters parse.
std::optional<std::string> scalar_text(const toml::node& node) {
  if (auto text = node.value<std::string>(); text && node.is_string()) return *text;
  if (node.is_integer()) return std::to_string(*node.value<int64_t>());
  if (node.is_floating_point()) {
    std::string text = std::to_string(*node.value<double>());
    return text;
  }
  if (node.is_boolean()) return *node.value<bool>() ? "true" : "false";
  return std::nullopt;
}

// The document `parse` returns; its syntax errors as UserError "path:line:col: message".
template <typename Parse>
toml::table parse_toml(Parse&& parse, const std::string& pyproject_path) {
  try {
    return parse();
  } catch (const toml::parse_error& error) {
    throw UserError(where(pyproject_path, error.source()) + ": " +
                    std::string(error.description()));
  }
}

// Applies `[tool.pytest-bulkhead]` of a parsed pyproject.toml.
void apply_pyproject_table(const toml::table& document, const std::string& pyproject_path,
                           RunOptions& options) {
  const toml::table* section = document["tool"]["pytest-bulkhead"].as_table();
  if (section == nullptr) return;
  options.config_file = pyproject_path;
  for (const auto& [raw_key, node] : *section) {
    std::string key(raw_key.str());
    std::replace(key.begin(), key.end(), '-', '_');
    const std::string location = where(pyproject_path, node.source());
    if (key == "forward") {  // a list of specs, or one
      options.forwards.clear();
      options.forwards_origin = pyproject_path + " forward";
      if (const toml::array* specs = node.as_array()) {
        for (const auto& spec : *specs) {
          if (!spec.is_string()) {
            throw UserError(where(pyproject_path, spec.source()) +
                            ": forward: expected each spec as a string, like \"5432\"");
          }
          options.forwards.push_back(*spec.value<std::string>());
        }
      } else if (node.is_string()) {
        options.forwards.push_back(*node.value<std::string>());
      } else {
        throw UserError(location +
                        ": forward: expected a list of specs, like [\"5432\", \"auto\"]");
      }
      continue;
    }
    auto setter = setters().find(key);
    if (setter == setters().end()) {
      throw UserError(location + ": unknown key '" + std::string(raw_key.str()) +
                      "' in [tool.pytest-bulkhead]");
    }
    if (const toml::array* list = node.as_array(); list != nullptr && key == "write_through") {
      for (const toml::node& entry : *list) {
        auto text = entry.value<std::string>();
        if (!text)
          throw UserError(where(pyproject_path, entry.source()) + ": " + key +
                          ": expected an array of paths (strings)");
        try {
          setter->second(options, *text);
        } catch (const UserError& error) {
          throw UserError(where(pyproject_path, entry.source()) + ": " + key + ": " + error.what());
        }
      }
      continue;
    }
    auto text = scalar_text(node);
    if (!text) throw UserError(location + ": " + key + ": expected a string or a number");
    try {
      setter->second(options, *text);
    } catch (const UserError& error) {
      throw UserError(location + ": " + key + ": " + error.what());
    }
  }
}

}  // namespace

void apply_pyproject(const std::string& pyproject_path, RunOptions& options) {
  apply_pyproject_table(
      parse_toml([&] { return toml::parse_file(pyproject_path); }, pyproject_path), pyproject_path,
      options);
}

void apply_pyproject_text(std::string_view text, const std::string& pyproject_path,
                          RunOptions& options) {
  apply_pyproject_table(
      parse_toml([&] { return toml::parse(text, pyproject_path); }, pyproject_path), pyproject_path,
      options);
}

std::string find_pyproject(const std::string& cwd) {
  std::error_code ignored;
  for (fs::path dir = fs::absolute(cwd, ignored); !dir.empty(); dir = dir.parent_path()) {
    const fs::path candidate = dir / "pyproject.toml";
    if (fs::is_regular_file(candidate, ignored)) return candidate.string();
    if (dir == dir.root_path()) break;
  }
  return {};
}

RunOptions parse_run_options(int argc, char** argv, const std::string& cwd) {
  RunOptions options;
  // The mode's default from the environment (CI runs suites in both modes); config and flags win.
  if (const char* mode = std::getenv("BULKHEAD_ZYGOTE_MODE"); mode != nullptr && *mode) {
    try {
      setters().at("zygote")(options, mode);
    } catch (const UserError& error) {
      throw UserError(std::string("BULKHEAD_ZYGOTE_MODE: ") + error.what());
    }
  }
  if (const char* dir = std::getenv("BULKHEAD_RECORD_DIR"); dir != nullptr && *dir) {
    options.record_dir = dir;
  }
  if (std::string config = find_pyproject(cwd); !config.empty()) apply_pyproject(config, options);

  CLI::App app{
      "Runs the pytest suite across N sandboxed workers. Options not listed here, and all "
      "arguments after `--`, are passed to pytest in every worker.",
      "bulkhead run"};
  app.allow_extras();
  app.footer(
      "Exit codes are pytest's: 0 all passed, 1 tests failed (or crashed, timed out, OOM, not "
      "run), 2 interrupted (SIGINT/SIGTERM, --session-timeout, collection errors), 3 internal "
      "error or workers collected different tests, 4 usage error, 5 no tests collected.\n"
      "Worker logs and stack dumps: ${TMPDIR:-/tmp}/bulkhead-<uid>/<run id>/gw<i>.log, removed "
      "at exit unless --keep-logs (or BULKHEAD_KEEP_LOGS=1) is given; reports of crashed and "
      "timed-out tests carry the stderr tail and Python stacks either way.\n"
      "Config: [tool.pytest-bulkhead] in the nearest pyproject.toml (keys as the long options, "
      "e.g. numprocesses = 4, memory = \"512M\"); flags win.");
  app.set_help_flag("-h,--help",
                    "Show bulkhead's run options and exit (pytest --help lists pytest's)");
  // Values are taken as text and parsed by the same setters as the config file.
  std::map<std::string, std::string> given;
  // Given twice, the last one wins (as in pytest): `bulkhead repro` appends its own.
  auto add = [&](const std::string& names, const std::string& key, const std::string& help) {
    app.add_option_function<std::string>(
           names, [&given, key](const std::string& value) { given[key] = value; }, help)
        ->type_name("")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  };
  add("-n,--numprocesses", "numprocesses", "Workers: N or auto (CPU quota and affinity)");
  add("--profile", "profile", "Sandbox profile: a name in share/bulkhead/profiles or a path");
  add("--memory", "memory", "Memory limit per worker, e.g. 512M");
  add("--cpus", "cpus", "CPU quota per worker in cores, e.g. 1.5");
  add("--pids", "pids", "Process limit per worker");
  add("--nofile", "nofile", "Open file limit per worker");
  add("--timeout", "timeout", "Per-test timeout, e.g. 30 or 2m");
  add("--session-timeout", "session_timeout", "Timeout for the whole run");
  add("--dist", "dist", "load | loadfile | loadscope | loadgroup");
  add("--junitxml,--junit-xml", "junitxml", "Write a merged JUnit XML report");
  add("--json", "json", "Write a JSON report");
  add("--html", "html", "Write a self-contained HTML report with a worker timeline");
  add("--trace", "trace", "Write a Chrome trace / Perfetto JSON (one track per worker)");
  add("--python", "python", "Python interpreter with pytest (default: first on PATH with it)");
  add("--image", "image",
      "dir:PATH: run the workers on this root filesystem instead of the host's (see images/); "
      "--python is then a path inside it (default /usr/bin/python3)");
  add("--max-worker-restart", "max_worker_restart",
      "Replacements for workers that died with no test to blame, or in a run of crashing "
      "tests with none finishing (default 4 x workers); one that died in a test is always "
      "replaced");
  add("--color", "color", "yes | no | auto");
  add("--progress", "progress",
      "auto | line | plain | off: a live status line below the output (line: done/total, the "
      "running tests, the ETA; `t` or SIGUSR1 prints the running tests' stacks), pytest's "
      "letters and percentages (plain), letters only (off); auto: line on a terminal");
  add("--output-cap", "output_cap", "Captured output kept per test (default 1M)");
  add("--shard", "shard",
      "Run one shard of the suite: I/N (1-based), or auto (from the CI's variables: GitLab, "
      "CircleCI, Buildkite, Kubernetes Indexed Jobs, Bazel); balanced by --durations-path");
  add("--durations-path", "durations_path",
      "pytest-split's durations file (default .test_durations)");
  add("--zygote", "zygote",
      "on | off | auto: collect once and fork every worker from that process (auto: when "
      "more than one worker or --isolate test|file; also BULKHEAD_ZYGOTE_MODE)");
  add("--spares", "spares",
      "on | off | auto: in zygote mode, make each worker slot's next sandbox ahead, so that a "
      "replacement (after a crash, or the next --isolate unit) is a hand-over (auto: with "
      "--isolate test|file, else once a worker has died)");
  add("--isolate", "isolate",
      "test | file | worker (default): a fresh worker, in a fresh sandbox, for every test, "
      "every file, or only per worker");
  std::string replay_worker;
  app.add_option("--replay", options.replay_file,
                 "Run exactly the node ids in FILE (one per line), in that order, in one sandbox "
                 "(bulkhead repro and bisect write these)")
      ->type_name("FILE")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--replay-worker", replay_worker,
                 "The worker id of the --replay sandbox (default gw0): PYTEST_XDIST_WORKER and "
                 "the profile's env templates as in the recorded run")
      ->type_name("gwN")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  add("--retries", "retries",
      "Rerun each failed test up to N times alone, each in a fresh sandbox; one that passes is "
      "replayed after the tests its sandbox ran before it: FLAKY or ORDER-DEPENDENT");
  add("--flaky-result", "flaky_result",
      "pass (default) | fail: whether a flaky test (failed, then passed) fails the run");
  add("--leaks", "leaks",
      "warn (default) | fail | off: name what each test left behind (processes, threads, files "
      "in /tmp, listening sockets, os.environ changes, open fds); fail makes its teardown fail");
  add("--top-memory", "top_memory",
      "Show the N tests with the highest memory peaks (0: all), with their CPU time and "
      "processes started, as --durations shows the slowest");
  bool store_durations = false;
  app.add_flag("--store-durations", store_durations,
               "Write the measured durations to --durations-path after the run");
  add("--controller", "controller",
      "The host session (pytest-xdist's controller, for pytest-cov and other plugins): auto "
      "(when a plugin, conftest or option needs it), on, off");
  std::vector<std::string> write_through;
  app.add_option("--write-through", write_through,
                 "A project path whose writes reach the host (read-write bind over the overlay); "
                 "repeatable, adds to the profile's mounts.write_through")
      ->type_name("PATH")
      ->allow_extra_args(false);
  add("--setup", "setup",
      "Shell command run once on the host before any worker; KEY=VALUE lines it writes to "
      "$BULKHEAD_ENV reach every worker (docs/services.md)");
  add("--teardown", "teardown",
      "Shell command run once on the host after the run, however it ends");
  add("--worker-setup", "worker_setup",
      "Shell command run on the host for each worker before its first sandbox, with its env and "
      "{worker} templates (e.g. createdb -T app app_{worker})");
  add("--worker-teardown", "worker_teardown",
      "Shell command run on the host for each worker after its last sandbox");
  add("--setup-timeout", "setup_timeout", "Bound on each setup and teardown command (default 5m)");
  std::vector<std::string> forwards;
  app.add_option("--forward", forwards,
                 "Reach a host service from the workers (repeatable): PORT, PORT=HOST:PORT, "
                 "PORT=unix:PATH, unix:INSIDE=unix:PATH, or auto (from DATABASE_URL, REDIS_URL, "
                 "PGHOST...)")
      ->type_name("SPEC")
      ->allow_extra_args(false);
  bool require_isolation = false;
  app.add_flag("--require-isolation", require_isolation,
               "Refuse to run when an isolation is unavailable");
  bool keep_logs = false;
  app.add_flag("--keep-logs", keep_logs,
               "Keep the worker logs after the run (also BULKHEAD_KEEP_LOGS=1)");
  add("--record-dir", "record_dir",
      "Where run records go (default <rootdir>/.bulkhead/runs; also BULKHEAD_RECORD_DIR); "
      "`bulkhead runs` and `show` read them");
  bool no_record = false;
  app.add_flag("--no-record", no_record, "Write no run record");

  std::vector<std::string> args;
  std::vector<std::string> after_double_dash;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--") {
      after_double_dash.assign(argv + i + 1, argv + argc);
      break;
    }
    args.emplace_back(argv[i]);
  }
  std::reverse(args.begin(), args.end());  // CLI11 takes a vector in reverse order
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp&) {
    options.show_help = true;
    options.help_text = app.help();
    return options;
  } catch (const CLI::ParseError& error) {
    throw UserError(error.what());
  }
  for (const auto& [key, value] : given) {
    try {
      setters().at(key)(options, value);
    } catch (const UserError& error) {
      std::string option = key;  // the flag as typed: --flaky-result, not the key flaky_result
      std::replace(option.begin(), option.end(), '_', '-');
      throw UserError("--" + option + ": " + error.what());
    }
  }
  if (options.isolate == "test" && options.dist != DistMode::Load) {
    throw UserError("--isolate test runs every test alone, but --dist " +
                    std::string(dist_mode_name(options.dist)) + " keeps tests together");
  }
  if (options.isolate == "file" && options.dist != DistMode::Load &&
      options.dist != DistMode::LoadFile) {
    throw UserError("--isolate file runs every file alone, but --dist " +
                    std::string(dist_mode_name(options.dist)) + " groups tests otherwise");
  }
  if (options.isolate == "file") options.dist = DistMode::LoadFile;
  for (const std::string& path : write_through) {
    try {
      options.write_through.push_back(checked_write_through(path));
    } catch (const UserError& error) {
      throw UserError("--write-through: " + std::string(error.what()));
    }
  }
  if (!options.replay_file.empty()) {  // read now: a bad list stops the run before it starts
    try {
      options.replay = read_replay_file(options.replay_file);
    } catch (const UserError& error) {
      throw UserError("--replay: " + std::string(error.what()));
    }
  }
  if (!replay_worker.empty()) {
    if (options.replay_file.empty()) {
      throw UserError("--replay-worker names the worker of a --replay, which is missing");
    }
    try {
      options.replay_worker = parse_worker_id(replay_worker);
    } catch (const UserError& error) {
      throw UserError("--replay-worker: " + std::string(error.what()));
    }
  }
  // A replay repeats part of a recorded run: it records nothing (nor becomes the last run).
  if (!options.replay_file.empty()) options.record = false;
  if (require_isolation) options.require_isolation = true;
  if (keep_logs) options.keep_logs = true;
  if (no_record) options.record = false;
  if (store_durations) options.store_durations = true;
  if (!forwards.empty()) {
    options.forwards = forwards;
    options.forwards_origin = "--forward";
  }
  options.pytest_args = app.remaining();
  options.pytest_args.insert(options.pytest_args.end(), after_double_dash.begin(),
                             after_double_dash.end());
  return options;
}

PytestArgFacts inspect_pytest_args(const std::vector<std::string>& args) {
  PytestArgFacts facts;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    const std::string next = i + 1 < args.size() ? args[i + 1] : "";
    if (arg == "--verbose") ++facts.verbosity;
    if (arg == "--quiet") --facts.verbosity;
    if (arg == "-s" || arg == "--capture=no" || (arg == "--capture" && next == "no")) {
      facts.capture_disabled = true;
    }
    if ((arg == "-p" && next == "no:randomly") || arg == "-pno:randomly") {
      facts.randomly_disabled = true;
    }
    if (arg.rfind("--randomly-seed", 0) == 0) facts.has_randomly_seed = true;
    if (arg == "--cache-show" || arg.rfind("--cache-show=", 0) == 0) facts.cache_show = true;
    // An option's value ("-k -v") is not a flag.
    static const std::vector<std::string> with_value = {
        "-k",        "-m",         "-p",           "-c",         "-o",       "-r",
        "-W",        "--tb",       "--maxfail",    "--deselect", "--ignore", "--ignore-glob",
        "--rootdir", "--basetemp", "--confcutdir", "--capture"};
    if (std::find(with_value.begin(), with_value.end(), arg) != with_value.end()) {
      ++i;
      continue;
    }
    // Short flag clusters: -vv, -qq, -vs, -sv.
    if (arg.size() >= 2 && arg[0] == '-' && arg[1] != '-') {
      const bool takes_value = std::string("kmpcorWn").find(arg[1]) != std::string::npos;
      if (takes_value) continue;
      for (std::size_t c = 1; c < arg.size(); ++c) {
        if (arg[c] == 'v')
          ++facts.verbosity;
        else if (arg[c] == 'q')
          --facts.verbosity;
        else if (arg[c] == 's')
          facts.capture_disabled = true;
        else if (std::string("kmpcorW").find(arg[c]) != std::string::npos)
          break;
      }
    }
  }
  return facts;
}

}  // namespace bulkhead
