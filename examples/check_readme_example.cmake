# Fails unless README.md contains SOURCE verbatim inside a ```cpp block.
file(READ "${README}" readme)
file(READ "${SOURCE}" source)
string(FIND "${readme}" "```cpp\n${source}```" position)
if(position EQUAL -1)
  message(FATAL_ERROR "README.md does not contain ${SOURCE} verbatim in a ```cpp block; copy it over")
endif()
