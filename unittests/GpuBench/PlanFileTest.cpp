//===- PlanFileTest.cpp - gpu_bench's plans as files, its JSON ------------===//

#include "Json.h"
#include "KernelPlan.h"
#include "PlanFile.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

using namespace gpubench;

namespace {

/// A plan as compileLayer records one for a 2x40x33 layer: x, g, signs, h,
/// y, one kernel taking their descriptors (7 + 5 + 7 + 5 + 7 = 31 fields).
KernelPlan samplePlan() {
  KernelPlan p;
  p.shape.m = 2;
  p.shape.n = 40;
  p.shape.k = 33;
  p.shape.name = "l0";
  p.seed = 123456789012345ull;
  p.chip = "sm_90";
  p.features = "+ptx80";
  p.compileSeconds = 0.25;
  auto buffer = [](int arg, bool result, unsigned bytes,
                   std::vector<int64_t> shape) {
    PlanBuffer b;
    b.argument = arg;
    b.result = result;
    b.elementBytes = bytes;
    b.shape = shape;
    b.strides.assign(shape.size(), 1);
    if (shape.size() == 2)
      b.strides[0] = shape[1];
    return b;
  };
  p.buffers = {buffer(0, false, 2, {2, 33}), buffer(2, false, 2, {33}),
               buffer(1, false, 4, {40, 2}), buffer(3, false, 2, {40}),
               buffer(-1, true, 2, {2, 40})};
  p.resultBuffer = 4;
  std::string ptx = ".version 8.0\n.target sm_90\n.visible .entry k0(\n";
  for (int i = 0; i < 31; ++i)
    ptx += "\t.param .u64 k0_param_" + std::to_string(i) +
           (i < 30 ? ",\n" : "\n");
  ptx += ")\n{\n\tret;\n}\n";
  p.ptx["mod_0"] = ptx;
  PlanLaunch l;
  l.module = "mod_0";
  l.kernel = "k0";
  l.grid[0] = 10;
  l.grid[1] = 2;
  l.block[0] = 128;
  l.buffers = {0, 1, 2, 3, 4};
  p.launches.push_back(l);
  return p;
}

std::string tempDir(const char *name) {
  std::string dir = (std::filesystem::temp_directory_path() /
                     ("onebit-planfile-" + std::string(name) + "-" +
                      std::to_string(::testing::UnitTest::GetInstance()
                                         ->random_seed())))
                        .string();
  std::filesystem::remove_all(dir);
  return dir;
}

TEST(GpuBenchPlanFile, RoundTrip) {
  KernelPlan p = samplePlan();
  std::string error;
  ASSERT_TRUE(checkPlan(p, error)) << error;
  std::string dir = tempDir("roundtrip");
  ASSERT_TRUE(writePlanSet(dir, {p}, {}, error)) << error;
  std::vector<KernelPlan> gemm, model;
  ASSERT_TRUE(readPlanSet(dir, gemm, model, error)) << error;
  ASSERT_EQ(gemm.size(), 1u);
  EXPECT_TRUE(model.empty());
  const KernelPlan &q = gemm[0];
  EXPECT_EQ(q.shape.m, 2);
  EXPECT_EQ(q.shape.n, 40);
  EXPECT_EQ(q.shape.k, 33);
  EXPECT_EQ(q.shape.name, "l0");
  EXPECT_EQ(q.seed, p.seed);
  EXPECT_EQ(q.chip, "sm_90");
  EXPECT_EQ(q.features, "+ptx80");
  EXPECT_DOUBLE_EQ(q.compileSeconds, 0.25);
  EXPECT_EQ(q.resultBuffer, 4);
  EXPECT_EQ(q.ptx, p.ptx);
  ASSERT_EQ(q.buffers.size(), p.buffers.size());
  for (size_t i = 0; i < p.buffers.size(); ++i) {
    EXPECT_EQ(q.buffers[i].argument, p.buffers[i].argument);
    EXPECT_EQ(q.buffers[i].result, p.buffers[i].result);
    EXPECT_EQ(q.buffers[i].shape, p.buffers[i].shape);
    EXPECT_EQ(q.buffers[i].strides, p.buffers[i].strides);
    EXPECT_EQ(q.buffers[i].elementBytes, p.buffers[i].elementBytes);
  }
  EXPECT_EQ(q.describe(), p.describe());
  EXPECT_EQ(q.heading(), "2x40x33 (sm_90):\n");
  std::filesystem::remove_all(dir);
}

TEST(GpuBenchPlanFile, CheckRefusesPlansThatCannotLaunch) {
  std::string error;
  KernelPlan p = samplePlan();
  p.buffers[4].shape = {2, 39}; // y one column short
  EXPECT_FALSE(checkPlan(p, error));
  EXPECT_NE(error.find("result buffer"), std::string::npos) << error;

  p = samplePlan();
  p.launches[0].buffers.back() = 7;
  EXPECT_FALSE(checkPlan(p, error));
  EXPECT_NE(error.find("names buffer 7 of 5"), std::string::npos) << error;

  p = samplePlan();
  p.launches[0].buffers.pop_back(); // 24 fields for a 31-parameter entry
  EXPECT_FALSE(checkPlan(p, error));
  EXPECT_NE(error.find("takes 31 parameters"), std::string::npos) << error;

  p = samplePlan();
  p.buffers[2].shape = {40, 1}; // signs: K = 33 needs 2 words a row
  EXPECT_FALSE(checkPlan(p, error));
  EXPECT_NE(error.find("argument signs"), std::string::npos) << error;
}

TEST(GpuBenchPlanFile, ReadNamesFileLineAndProblem) {
  std::string dir = tempDir("bad"), error;
  ASSERT_TRUE(writePlan(dir, samplePlan(), error)) << error;
  std::string text;
  {
    std::ifstream f(dir + "/plan.txt");
    text.assign(std::istreambuf_iterator<char>(f), {});
  }
  auto rewrite = [&](const std::string &from, const std::string &to) {
    std::string t = text;
    size_t at = t.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    t.replace(at, from.size(), to);
    std::ofstream(dir + "/plan.txt") << t;
  };
  KernelPlan q;
  rewrite("shape 2 40 33", "shape 2 40");
  EXPECT_FALSE(readPlan(dir, q, error));
  EXPECT_NE(error.find("plan.txt:3: malformed 'shape' record"),
            std::string::npos)
      << error;
  rewrite("onebit-gpu-plan 1", "onebit-gpu-plan 2");
  EXPECT_FALSE(readPlan(dir, q, error));
  EXPECT_NE(error.find("plan version 2"), std::string::npos) << error;
  rewrite("chip sm_90", "chip gfx90a");
  EXPECT_FALSE(readPlan(dir, q, error));
  EXPECT_NE(error.find("malformed 'chip' record"), std::string::npos) << error;
  rewrite("result 4\n", "");
  EXPECT_FALSE(readPlan(dir, q, error));
  EXPECT_NE(error.find("missing record(s): result"), std::string::npos)
      << error;
  rewrite("seed 123456789012345", "seed 1 2");
  EXPECT_FALSE(readPlan(dir, q, error));
  EXPECT_NE(error.find("extra fields ('2')"), std::string::npos) << error;
  std::filesystem::remove_all(dir);
}

TEST(GpuBenchPlanFile, ChipNumbers) {
  EXPECT_EQ(chipNumber("sm_90"), 90);
  EXPECT_EQ(chipNumber("sm_90a"), 90);
  EXPECT_EQ(chipNumber("sm_100"), 100);
  EXPECT_EQ(chipNumber("sm_"), -1);
  EXPECT_EQ(chipNumber("sm_9x"), -1);
  EXPECT_EQ(chipNumber("gfx90a"), -1);
}

TEST(GpuBenchJson, WritesSortedEscapedIndented) {
  Json r = Json::object();
  r["z"] = 1;
  r["a"] = "q\"uote\\\n";
  r["n"] = nullptr;
  r["inf"] = 1.0 / 0.0;
  r["half"] = 0.5;
  Json arr = Json::array();
  arr.push(true);
  Json o = Json::object();
  o["k"] = int64_t(-3);
  arr.push(std::move(o));
  r["list"] = std::move(arr);
  EXPECT_EQ(r.dump(), "{\n"
                      "  \"a\": \"q\\\"uote\\\\\\n\",\n"
                      "  \"half\": 0.5,\n"
                      "  \"inf\": null,\n"
                      "  \"list\": [\n"
                      "    true,\n"
                      "    {\n"
                      "      \"k\": -3\n"
                      "    }\n"
                      "  ],\n"
                      "  \"n\": null,\n"
                      "  \"z\": 1\n"
                      "}");
  EXPECT_EQ(Json::object().dump(), "{}");
  EXPECT_EQ(Json::array().dump(), "[]");
}

} // namespace
