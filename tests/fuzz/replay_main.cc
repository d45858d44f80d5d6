// Replays every file of the corpus directories given on the command line
// through LLVMFuzzerTestOneInput: the fuzz target as an ordinary test
// under gcc. Prints "N passed, 0 failed"; any divergence aborts.

#include <dirent.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  int passed = 0;
  for (int i = 1; i < argc; ++i) {
    DIR* dir = opendir(argv[i]);
    if (dir == nullptr) {
      std::fprintf(stderr, "cannot open corpus %s\n", argv[i]);
      return 1;
    }
    while (dirent* e = readdir(dir)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      std::ifstream in(std::string(argv[i]) + "/" + name, std::ios::binary);
      std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()),
                             bytes.size());
      ++passed;
    }
    closedir(dir);
  }
  if (passed == 0) {
    std::fprintf(stderr, "empty corpus\n");
    return 1;
  }
  std::printf("%d passed, 0 failed\n", passed);
  return 0;
}
