// Unit tests of the steal exchange on the wire: the `steal` command and the `released` answer.
#include <gtest/gtest.h>

#include "src/run/protocol.h"

namespace bulkhead::protocol {
namespace {

TEST(Steal, CommandCarriesWholeUnits) {
  EXPECT_EQ(encode_steal({{4}, {7, 8, 9}}), "{\"cmd\":\"steal\",\"units\":[[4],[7,8,9]]}\n");
  EXPECT_EQ(encode_steal({}), "{\"cmd\":\"steal\",\"units\":[]}\n");
}

TEST(Steal, ReleasedAnswerDecodes) {
  auto event = std::get<ReleasedEvent>(decode_event(R"({"event":"released","indices":[7,8,9]})"));
  EXPECT_EQ(event.indices, (std::vector<std::size_t>{7, 8, 9}));
  EXPECT_TRUE(std::get<ReleasedEvent>(decode_event(R"({"event":"released","indices":[]})"))
                  .indices.empty());
  EXPECT_THROW(decode_event(R"({"event":"released"})"), ProtocolError);
  EXPECT_THROW(decode_event(R"({"event":"released","indices":[-1]})"), ProtocolError);
  EXPECT_THROW(decode_event(R"({"event":"released","indices":["7"]})"), ProtocolError);
}

}  // namespace
}  // namespace bulkhead::protocol
