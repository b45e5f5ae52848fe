// Names of the results model's enums (see test_model.h).
#include "src/report/test_model.h"

namespace bulkhead {

const char* cause_name(Cause cause) {
  switch (cause) {
    case Cause::None:
      return "";
    case Cause::Timeout:
      return "timeout";
    case Cause::Crash:
      return "crash";
    case Cause::OOM:
      return "oom";
    case Cause::NotRun:
      return "notrun";
  }
  return "";
}

}  // namespace bulkhead
