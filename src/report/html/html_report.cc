// The self-contained HTML report (html_report.h): a fixed page around the embedded JSON report.
#include "src/report/html/html_report.h"

#include "src/report/outcome.h"

namespace bulkhead {

namespace {

constexpr const char kStyle[] =
#include "src/report/html/page_style.inc"
    ;

constexpr const char kScript[] =
#include "src/report/html/page_script.inc"
    ;

constexpr const char kBody[] = R"(<div id="summary"></div>
<div class="filter"><label>Filter timeline and tests:</label>
<select id="o"><option value="">every outcome</option></select>
<input id="q" type="search" placeholder="part of a node id"></div>
<h2>Timeline</h2><div id="legend"></div><div id="timeline"></div>
<h2 id="failures-title">Failures</h2><div id="failures"></div>
<h2>Slowest tests</h2><table class="list"><tbody id="slowest"></tbody></table>
<section id="memory-section" hidden><h2>Most memory</h2>
<table class="list"><tbody id="memory"></tbody></table></section>
<h2>Tests</h2><div id="tests-count"></div><table class="list" id="tests"><tbody id="tests-body"></tbody></table>
<div id="tip"></div><footer>bulkhead report: self-contained, made from the JSON report embedded below.</footer>
)";

}  // namespace

namespace {

// The page to `out`, the JSON from `json_report` embedded as it comes.
void emit_html(const TextSource& json_report, const TextOut& out) {
  out("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
  out("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
  out("<title>bulkhead report</title>\n<style>");
  out(kStyle);
  out("</style></head>\n<body>\n");
  out(kBody);
  // JSON inside <script>: a "<" could end the element early ("</script>", "<!--"); in JSON it
  // can only be inside a string, where \u003c is the same character.
  out("<script id=\"bulkhead-data\" type=\"application/json\">");
  json_report([&out](std::string_view piece) {
    std::size_t from = 0;
    for (std::size_t at; (at = piece.find('<', from)) != std::string_view::npos; from = at + 1) {
      out(piece.substr(from, at - from));
      out("\\u003c");
    }
    out(piece.substr(from));
  });
  out("</script>\n<script>");
  out(kScript);
  out("</script>\n</body></html>\n");
}

}  // namespace

std::string render_html_report(std::string_view json_report) {
  std::string out;
  out.reserve(json_report.size() + sizeof kStyle + sizeof kScript + sizeof kBody + 512);
  emit_html([json_report](const TextOut& piece) { piece(json_report); },
            [&out](std::string_view text) { out += text; });
  return out;
}

void write_html_report(const std::string& path, const TextSource& json_report) {
  AtomicFile file(path);
  emit_html(json_report, [&file](std::string_view text) { file.write(text); });
  file.commit();
}

}  // namespace bulkhead
