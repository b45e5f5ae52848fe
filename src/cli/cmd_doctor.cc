// `bulkhead doctor`: what this kernel and user allow (namespaces, cgroups, seccomp, overlay in
// a user namespace), which Python has pytest; non-zero when `bulkhead run` could not work.
#include <fcntl.h>
#include <fmt/core.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "sandbox/cgroup.h"
#include "sandbox/error.h"
#include "sandbox/namespaces.h"
#include "sandbox/sandbox.h"
#include "src/cli/commands.h"
#include "src/cli/degraded_modes.h"
#include "src/cli/paths.h"
#include "src/python/interpreter.h"

namespace bulkhead {
namespace {

struct Report {
  bool fatal = false;
  void line(const char* status, const std::string& what, const std::string& detail = "") {
    std::printf("  [%-4s] %s%s%s\n", status, what.c_str(), detail.empty() ? "" : ": ",
                detail.c_str());
  }
};

std::string controller_text(const std::optional<sandbox::ControllerHome>& home) {
  if (!home) return "not available";
  std::string text = fmt::format(
      "{} at {}", home->version == sandbox::CgroupVersion::V1 ? "v1" : "v2", home->own_dir);
  if (::access(home->own_dir.c_str(), W_OK) != 0) {
    text += fmt::format(" (not writable by uid {}: not delegated to us)", ::geteuid());
  }
  return text;
}

const char* controller_status(const std::optional<sandbox::ControllerHome>& home) {
  return home && ::access(home->own_dir.c_str(), W_OK) == 0 ? "ok" : "warn";
}

// Runs a full sandbox (default profile) with /bin/true: the end-to-end check. Returns the
// isolation it got (nullopt when none could start).
std::optional<sandbox::Isolation> check_sandbox(Report& report, bool verbose) {
  std::optional<sandbox::Isolation> got;
  try {
    sandbox::SandboxOptions options;
    options.profile = sandbox::load_profile("default", {data_dir() + "/profiles"});
    options.run_id = fmt::format("doctor{}", ::getpid());
    auto box = sandbox::Sandbox::create(options);
    sandbox::SpawnSpec spec;
    spec.name = "doctor";
    spec.argv = {"/bin/true"};
    spec.env = {"PATH=/usr/bin:/bin"};
    if (const char* home = std::getenv("HOME")) spec.env.push_back(std::string("HOME=") + home);
    int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    spec.stdout_fd = null_fd;
    spec.stderr_fd = null_fd;
    auto child = box->spawn(spec);
    auto end = child->wait();
    ::close(null_fd);
    const auto& iso = box->isolation();
    got = iso;
    report.line("ok", "cgroup mode used", iso.cgroup_mode);
    report.line(iso.memory_limit ? "ok" : "warn", "memory limit and OOM detection",
                iso.memory_limit ? "cgroup" : "not available (RLIMIT_AS fallback)");
    report.line(iso.pids_limit ? "ok" : "warn", "pids limit",
                iso.pids_limit ? "cgroup" : "not available");
    report.line(iso.cpu_limit ? "ok" : "info", "cpu quota",
                iso.cpu_limit ? "cgroup" : "only when a cpu limit is asked for");
    report.line(iso.identity.rfind("the host's uid 0", 0) == 0 ? "warn" : "ok", "payload identity",
                iso.identity);
    for (const auto& missing : iso.missing) report.line("warn", "not isolated", missing);
    if (end.exited && end.exit_code == 0) {
      report.line("ok", "sandbox runs /bin/true",
                  iso.missing.empty() ? "fully isolated" : "degraded");
    } else {
      report.fatal = true;
      report.line(
          "FAIL", "sandbox runs /bin/true",
          end.setup_error.empty() ? fmt::format("exit {}", end.exit_code) : end.setup_error);
    }
  } catch (const std::exception& e) {
    report.fatal = true;
    report.line("FAIL", "sandbox", e.what());
  }
  (void)verbose;
  return got;
}

// One line per known degraded environment, then the verdict.
void report_degraded_modes(Report& report, const std::optional<sandbox::Isolation>& isolation) {
  auto modes = detect_degraded_modes(isolation ? &*isolation : nullptr);
  std::string which;
  auto line = [&](const char* tag, const char* what, const std::optional<std::string>& why,
                  const char* fine) {
    report.line(why ? "warn" : "ok", std::string(tag) + " " + what, why ? *why : fine);
    if (why) which += std::string(which.empty() ? "" : ", ") + tag;
  };
  if (modes.seccomp_blocked) {
    report.line("info", "(a) user namespaces", "not told apart from (b) under that filter");
  } else {
    line("(a)", "user namespaces", modes.userns_off, "allowed for unprivileged users");
  }
  line("(b)", "namespace creation", modes.seccomp_blocked, "no seccomp filter refuses it");
  line("(c)", "cgroups", modes.no_cgroup, "writable: limits and OOM detection work");
  report.line("info", "this machine",
              which.empty() ? "full isolation" : "degraded: " + which + " (see above)");
}

}  // namespace

int cmd_doctor(int argc, char** argv) {
  CLI::App app{"Report what this kernel and user allow, and which python has pytest.",
               "bulkhead doctor"};
  std::string python;
  bool verbose = false;
  app.add_option("--python", python, "Check this interpreter instead of searching PATH");
  app.add_flag("-v,--verbose", verbose, "More detail");
  CLI11_PARSE(app, argc, argv);

  Report report;
  bool rootless = ::geteuid() != 0;
  std::printf("bulkhead doctor (uid %d%s)\n\nnamespaces\n", ::geteuid(),
              rootless ? ", rootless: a user namespace is needed" : ", root");
  if (rootless) {
    int err = sandbox::probe_namespaces(0, true);
    report.line(err == 0 ? "ok" : "FAIL", "user namespace",
                err == 0 ? ""
                         : std::string(std::strerror(err)) +
                               " (unprivileged user namespaces are blocked: sysctl or AppArmor)");
    if (err != 0) report.fatal = true;
  }
  for (const auto& kind : sandbox::sandbox_namespaces()) {
    int err = sandbox::probe_namespaces(kind.flag, rootless);
    report.line(
        err == 0 ? "ok" : "warn", std::string(kind.name) + " namespace",
        err == 0 ? "" : fmt::format("{}; without it {}", std::strerror(err), kind.without_it));
  }

  {
    int err = sandbox::probe_overlay_in_user_namespace();
    report.line(err == 0 ? "ok" : "warn", "overlayfs in a user namespace",
                err == 0 ? (rootless ? "" : "(what a rootless run uses)")
                         : fmt::format("{}; rootless runs get read-only binds instead of "
                                       "private writable project and HOME overlays",
                                       std::strerror(err)));
  }

  std::printf("\ncgroups\n");
  auto layout = sandbox::detect_cgroup_layout();
  report.line("info", "hierarchy", layout.mode());
  report.line(controller_status(layout.memory), "memory controller",
              controller_text(layout.memory));
  report.line(controller_status(layout.cpu), "cpu controller", controller_text(layout.cpu));
  report.line(controller_status(layout.pids), "pids controller", controller_text(layout.pids));

  std::printf("\nseccomp\n");
  int mode = ::prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
  report.line(mode >= 0 ? "ok" : "warn", "seccomp filters",
              mode == 0   ? "available"
              : mode == 2 ? "we already run under a filter (nested is fine)"
                          : std::strerror(errno));

  std::printf("\nsandbox (default profile)\n");
  auto isolation = check_sandbox(report, verbose);

  std::printf("\ndegraded modes\n");
  report_degraded_modes(report, isolation);

  std::printf("\npython\n");
  bool found = false;
  std::vector<std::string> candidates =
      python.empty() ? python_candidates() : std::vector<std::string>{python};
  for (const auto& candidate : candidates) {
    auto info = probe_python(candidate);
    if (!info) {
      report.line("warn", candidate, "does not run");
      continue;
    }
    std::string detail =
        fmt::format("{} -> {} (Python {}), pytest {}, xdist {}", candidate, info->executable,
                    info->version, info->has_pytest() ? info->pytest_version : "missing",
                    info->xdist_version.empty() ? "missing" : info->xdist_version);
    report.line(info->has_pytest() ? "ok" : "info", "interpreter", detail);
    found = found || info->has_pytest();
  }
  if (!found) {
    report.fatal = true;
    report.line("FAIL", "no interpreter with pytest",
                "install pytest (Debian: apt-get install python3-pytest) or pass --python");
  }

  std::printf("\n%s\n", report.fatal ? "bulkhead run cannot work here; see FAIL lines above."
                                     : "bulkhead run can work here.");
  return report.fatal ? 1 : 0;
}

}  // namespace bulkhead
