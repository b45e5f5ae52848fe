// Unit tests for parsing a JSON line with one top-level array handed out element by element.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "src/run/json_divert.h"
#include "src/run/protocol.h"

namespace bulkhead::protocol {
namespace {

using nlohmann::json;

std::vector<json> divert(const std::string& text, json& root, bool* parsed = nullptr) {
  std::vector<json> elements;
  const bool ok = parse_diverting(text, "items", root, [&](json& e) { elements.push_back(e); });
  if (parsed) *parsed = ok;
  return elements;
}

TEST(JsonDivert, HandsOutEachElementAndLeavesTheArrayEmpty) {
  const std::string text =
      R"({"event":"collected","items":[{"nodeid":"a","tags":["x",{"k":[1,2]}]},)"
      R"("scalar",3,-4,2.5,true,null,[],{},[[1],{"items":[5]}]],"after":{"items":[7]},"n":1})";
  json root;
  bool parsed = false;
  const std::vector<json> elements = divert(text, root, &parsed);
  ASSERT_TRUE(parsed);
  json expected = json::parse(text);
  ASSERT_EQ(elements.size(), expected["items"].size());
  for (std::size_t i = 0; i < elements.size(); ++i) EXPECT_EQ(elements[i], expected["items"][i]);
  expected["items"] = json::array();  // nested "items" keys are not the top-level one
  EXPECT_EQ(root, expected);
}

TEST(JsonDivert, OtherShapesParseAsAWhole) {
  for (const std::string text : {R"({"items":5,"x":[1]})", R"([{"items":[1]}])", R"("s")",
                                 R"({"other":[1,2],"list":{"items":[3]}})", "{}", "[]"}) {
    json root;
    bool parsed = false;
    EXPECT_TRUE(divert(text, root, &parsed).empty()) << text;
    EXPECT_TRUE(parsed) << text;
    EXPECT_EQ(root, json::parse(text)) << text;
  }
}

TEST(JsonDivert, MalformedTextIsRefused) {
  for (const std::string text : {R"({"items":[{"a":1},)", R"({"items":[1]} x)", "", R"({"a")"}) {
    json root;
    bool parsed = true;
    divert(text, root, &parsed);
    EXPECT_FALSE(parsed) << text;
  }
}

TEST(JsonDivert, CollectedItemsAreCheckedAsTheyAreParsed) {
  const std::string settings = R"("settings":{}})";
  try {
    decode_event(R"({"event":"collected","items":[{"nodeid":"a"},7],)" + settings);
    FAIL() << "expected ProtocolError";
  } catch (const ProtocolError& error) {
    const std::string what = error.what();
    EXPECT_NE(what.find("field 'items': expected objects with a nodeid"), std::string::npos)
        << what;
    EXPECT_NE(what.find(R"({"event":"collected")"), std::string::npos) << what;  // the quote
  }
  try {
    decode_event(R"({"event":"collected","items":[{"group":"g"}],)" + settings);
    FAIL() << "expected ProtocolError";
  } catch (const ProtocolError& error) {
    EXPECT_NE(std::string(error.what()).find("'nodeid'"), std::string::npos) << error.what();
  }
  EXPECT_THROW(decode_event(R"({"event":"collected","items":{},)" + settings), ProtocolError);
  EXPECT_THROW(decode_event(R"({"event":"collected",)" + settings), ProtocolError);
  const auto event = decode_event(R"({"settings":{},"items":[{"nodeid":"b","group":"g"},)"
                                  R"({"nodeid":"c"}],"event":"collected"})");
  const auto& collected = std::get<CollectedEvent>(event);
  ASSERT_EQ(collected.items.size(), 2u);
  EXPECT_EQ(collected.items[0].nodeid, "b");
  EXPECT_EQ(collected.items[0].group, "g");
  EXPECT_EQ(collected.items[1].nodeid, "c");
  EXPECT_EQ(collected.items[1].group, "");
}

}  // namespace
}  // namespace bulkhead::protocol
