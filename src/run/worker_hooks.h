// What the supervisor tells others about each worker's sandbox: started (with the listening
// sockets made inside it, see SpawnSpec::listeners) and ended (reaped, or abandoned at the end).
// Implemented by services::Services (the forwards' relay).
#pragma once

#include <vector>

#include "sandbox/fd.h"

namespace bulkhead {

class WorkerHooks {
 public:
  virtual ~WorkerHooks() = default;
  virtual void worker_started(int slot, std::vector<UniqueFd> listeners) = 0;
  virtual void worker_ended(int slot) = 0;
};

}  // namespace bulkhead
