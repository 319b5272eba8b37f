// A shared library that is not an AOT package: it lacks the entry point (tests of damaged packages).
extern "C" int hepinfer_test_not_a_package() { return 1; }
