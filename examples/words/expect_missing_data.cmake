# words_missing_data: runs PROGRAM with --words-file MISSING (a path that
# does not exist) and passes when it exits non-zero with a message naming
# the wamerican package. ctest alone can check the exit code or the output,
# not both.
execute_process(COMMAND ${PROGRAM} --words-file ${MISSING} --epochs 1
                RESULT_VARIABLE status
                OUTPUT_VARIABLE out
                ERROR_VARIABLE err)
message(STATUS "exit status ${status}; stderr: ${err}")
if(status EQUAL 0)
  message(FATAL_ERROR "words exited 0 on a missing word list")
endif()
if(NOT err MATCHES "wamerican")
  message(FATAL_ERROR "the error message does not name the wamerican package")
endif()
