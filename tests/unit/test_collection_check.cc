// Collection agreement between workers: same, different ids, different order.
#include <gtest/gtest.h>

#include "src/run/collection_check.h"

namespace bulkhead {
namespace {

std::vector<protocol::CollectedItem> items(std::initializer_list<const char*> ids) {
  std::vector<protocol::CollectedItem> out;
  for (const char* id : ids) out.push_back({id, ""});
  return out;
}

TEST(CollectionCheck, SameListsAgree) {
  EXPECT_EQ(collection_difference(items({"a::x", "a::y"}), "gw0", items({"a::x", "a::y"}), "gw1"),
            "");
}

TEST(CollectionCheck, NamesBothWorkersAndTheDifferingIds) {
  std::string text = collection_difference(items({"t::p[gw0]", "t::q"}), "gw0",
                                           items({"t::p[gw1]", "t::q"}), "gw1");
  EXPECT_EQ(text,
            "Different tests were collected between gw0 and gw1 (2 vs 2 items). The difference "
            "is:\n  - t::p[gw0]\n  + t::p[gw1]");
}

TEST(CollectionCheck, SameTestsInAnotherOrderIsADifference) {
  std::string text = collection_difference(items({"a", "b"}), "gw0", items({"b", "a"}), "gw3");
  EXPECT_NE(text.find("between gw0 and gw3"), std::string::npos);
  EXPECT_NE(text.find("(same tests, different order)"), std::string::npos);
}

TEST(CollectionCheck, ShowsAtMostTenIds) {
  std::vector<protocol::CollectedItem> many;
  for (int i = 0; i < 30; ++i) many.push_back({"t::n" + std::to_string(i), ""});
  std::string text = collection_difference(many, "gw0", {}, "gw1");
  std::size_t lines = 0;
  for (std::size_t pos = 0; (pos = text.find("\n  - ", pos)) != std::string::npos; ++pos) ++lines;
  EXPECT_EQ(lines, 10u);
  EXPECT_NE(text.find("(30 vs 0 items)"), std::string::npos);
}

}  // namespace
}  // namespace bulkhead
