#include "tfckpt/status.h"

#include <cstring>

namespace tfckpt {

Status Status::FromErrno(std::string_view what, int errno_value) {
  return IOError(std::string(what) + ": " + std::strerror(errno_value));
}

std::string Status::ToString() const {
  const char* name = "OK";
  switch (code_) {
    case Code::kOk:
      return "OK";
    case Code::kNotFound:
      name = "not found";
      break;
    case Code::kInvalidArgument:
      name = "invalid argument";
      break;
    case Code::kCorruption:
      name = "corruption";
      break;
    case Code::kIOError:
      name = "I/O error";
      break;
    case Code::kUnsupported:
      name = "unsupported";
      break;
    case Code::kAlreadyExists:
      name = "already exists";
      break;
    case Code::kFailedPrecondition:
      name = "failed precondition";
      break;
    case Code::kDataLoss:
      name = "data loss";
      break;
  }
  return std::string(name) + ": " + message_;
}

}  // namespace tfckpt
