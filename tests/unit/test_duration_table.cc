// Unit tests of the compact durations table: lookups, the first added of an id wins, exact
// tables never give one test another's duration even when every hash collides, hashed tables
// share one, append/overlay/covers.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "src/shard/duration_table.h"

namespace bulkhead {
namespace {

using Keys = DurationTable::Keys;

uint64_t same_hash(std::string_view) { return 42; }

TEST(DurationTable, FindsWhatWasAddedFirstWins) {
  for (Keys keys : {Keys::kExact, Keys::kHashed}) {
    DurationTable table(keys);
    table.add("t.py::a", {1.5, 0.5});
    table.add("t.py::b", {2.0, std::nullopt});
    table.add("t.py::a", {9.0, std::nullopt});  // a later one: ignored
    EXPECT_THROW(table.find("t.py::a"), std::logic_error);
    table.sort();
    EXPECT_EQ(table.size(), 2u);
    ASSERT_TRUE(table.find("t.py::a"));
    EXPECT_DOUBLE_EQ(table.find("t.py::a")->total, 1.5);
    EXPECT_EQ(table.find("t.py::a")->call, std::optional<double>(0.5));
    EXPECT_DOUBLE_EQ(table.find("t.py::b")->total, 2.0);
    EXPECT_FALSE(table.find("t.py::b")->call);
    EXPECT_FALSE(table.find("t.py::c"));
    EXPECT_FALSE(table.find(""));
  }
  EXPECT_TRUE(DurationTable().empty());
  EXPECT_FALSE(DurationTable().find("x"));
}

TEST(DurationTable, ManyIdsEachTheirOwn) {
  DurationTable exact;
  DurationTable hashed(Keys::kHashed);
  for (int i = 0; i < 5000; ++i) {
    const std::string id =
        "tests/test_m" + std::to_string(i % 50) + ".py::test[" + std::to_string(i) + "]";
    exact.add(id, {i * 0.001, std::nullopt});
    hashed.add(id, {i * 0.001, std::nullopt});
  }
  exact.sort();
  hashed.sort();
  for (int i = 0; i < 5000; ++i) {
    const std::string id =
        "tests/test_m" + std::to_string(i % 50) + ".py::test[" + std::to_string(i) + "]";
    ASSERT_TRUE(exact.find(id)) << id;
    EXPECT_DOUBLE_EQ(exact.find(id)->total, i * 0.001);
    EXPECT_DOUBLE_EQ(hashed.find(id)->total, i * 0.001);
  }
  EXPECT_FALSE(exact.find("tests/test_m0.py::test[5000]"));
}

TEST(DurationTable, ExactTablesCompareIdsWhenHashesCollide) {
  DurationTable exact(Keys::kExact, same_hash);
  exact.add("c", {3, std::nullopt});
  exact.add("a", {1, std::nullopt});
  exact.add("b", {2, std::nullopt});
  exact.add("a", {7, std::nullopt});
  exact.sort();
  EXPECT_EQ(exact.size(), 3u);
  EXPECT_DOUBLE_EQ(exact.find("a")->total, 1);
  EXPECT_DOUBLE_EQ(exact.find("b")->total, 2);
  EXPECT_DOUBLE_EQ(exact.find("c")->total, 3);
  EXPECT_FALSE(exact.find("d"));  // same hash, not in the table

  // A hashed table cannot tell them apart: the first added answers for all (an ordering hint).
  DurationTable hashed(Keys::kHashed, same_hash);
  hashed.add("c", {3, std::nullopt});
  hashed.add("a", {1, std::nullopt});
  hashed.sort();
  EXPECT_EQ(hashed.size(), 1u);
  EXPECT_DOUBLE_EQ(hashed.find("a")->total, 3);
  EXPECT_DOUBLE_EQ(hashed.find("d")->total, 3);
}

TEST(DurationTable, AppendKeepsTheEarlierTable) {
  DurationTable newer(Keys::kHashed);
  newer.add("a", {1, std::nullopt});
  newer.sort();
  DurationTable older(Keys::kHashed);
  older.add("a", {5, std::nullopt});
  older.add("b", {2, std::nullopt});
  newer.append(std::move(older));
  EXPECT_TRUE(older.empty());
  newer.sort();
  EXPECT_EQ(newer.size(), 2u);
  EXPECT_DOUBLE_EQ(newer.find("a")->total, 1);
  EXPECT_DOUBLE_EQ(newer.find("b")->total, 2);
  DurationTable exact;
  EXPECT_THROW(exact.append(DurationTable(Keys::kHashed)), std::logic_error);
}

TEST(DurationTable, OverlayAndCovers) {
  DurationTable file;
  file.add("a", {7, 6});
  file.add("c", {3, std::nullopt});
  file.sort();
  DurationTable recorded(Keys::kHashed);
  recorded.add("a", {1, std::nullopt});
  recorded.add("b", {2, std::nullopt});
  recorded.sort();
  EXPECT_FALSE(file.covers(recorded));
  const DurationTable both = DurationTable::overlay(file, recorded);
  EXPECT_EQ(both.keys(), Keys::kHashed);
  EXPECT_EQ(both.size(), 3u);
  EXPECT_DOUBLE_EQ(both.find("a")->total, 7);
  EXPECT_EQ(both.find("a")->call, std::optional<double>(6));
  EXPECT_DOUBLE_EQ(both.find("b")->total, 2);
  EXPECT_DOUBLE_EQ(both.find("c")->total, 3);
  EXPECT_TRUE(both.covers(recorded));
  EXPECT_TRUE(both.covers(file));
  EXPECT_TRUE(file.covers(DurationTable(Keys::kHashed)));
}

}  // namespace
}  // namespace bulkhead
