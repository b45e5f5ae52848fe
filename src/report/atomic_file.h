// A report file written piece by piece and published whole: the pieces go to `path`.tmp
// (through a 256 KiB buffer), and commit() renames it over `path`, so readers never see half a
// report. Dropped uncommitted (an exception while writing), the temp file is removed.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "sandbox/fd.h"

namespace bulkhead {

// Where a writer that streams hands its text, piece by piece.
using TextOut = std::function<void(std::string_view)>;
// A text made on demand: it calls its argument with each piece, in order.
using TextSource = std::function<void(const TextOut&)>;

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);  // throws SysError naming the temp file
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(std::string_view data);  // throws SysError naming the temp file
  void commit();                      // flush, close and rename; throws SysError naming both

 private:
  void flush();
  void write_all(std::string_view data);

  std::string path_;
  std::string buffer_;
  std::string tmp_;
  UniqueFd fd_;
  bool committed_ = false;
};

}  // namespace bulkhead
