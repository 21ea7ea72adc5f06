// Status: the outcome of a tfckpt operation, either OK or an error code with a message written for
// people (what was wrong, where, and what to do next).
//
// Thread-safety: a Status is a value; distinct objects may be used from distinct threads freely.

#ifndef TFCKPT_STATUS_H_
#define TFCKPT_STATUS_H_

#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace tfckpt {

class Status {
 public:
  enum class Code {
    kOk = 0,
    kNotFound,         // a file or tensor that was asked for does not exist
    kInvalidArgument,  // the request itself is wrong (bad option, bad mapping, ...)
    kCorruption,       // a file exists but its bytes are not a valid checkpoint
    kIOError,          // the operating system refused a read or a write
    kUnsupported,      // valid input that tfckpt does not handle (e.g. the V1 format)
    kAlreadyExists,    // an output would replace something without being allowed to
    kFailedPrecondition,
    kDataLoss,  // a tensor's stored bytes are damaged: they disagree with their checksum, or a
                // string/variant tensor's bytes do not parse (TensorFlow's DataLoss)
  };

  Status() = default;
  static Status OK() { return Status(); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status InvalidArgument(std::string msg) {
    return Status(Code::kInvalidArgument, std::move(msg));
  }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status IOError(std::string msg) { return Status(Code::kIOError, std::move(msg)); }
  static Status Unsupported(std::string msg) { return Status(Code::kUnsupported, std::move(msg)); }
  static Status AlreadyExists(std::string msg) {
    return Status(Code::kAlreadyExists, std::move(msg));
  }
  static Status FailedPrecondition(std::string msg) {
    return Status(Code::kFailedPrecondition, std::move(msg));
  }
  static Status DataLoss(std::string msg) { return Status(Code::kDataLoss, std::move(msg)); }
  // An IOError whose message ends with strerror(errno_value).
  static Status FromErrno(std::string_view what, int errno_value);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // The same error with another message (e.g. with context added); OK stays OK.
  Status WithMessage(std::string msg) const {
    return ok() ? Status() : Status(code_, std::move(msg));
  }
  // "OK", or a short code name followed by the message.
  std::string ToString() const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// Messages name an option of an operation by its name in this library's option structs, between
// backquotes: "choose the winner with `on_conflict`", "allow replacing it (`overwrite`)". Each face
// respells those names in its own terms (the command line as its flags, Python as its keywords):
// `spell` receives every backquoted lower_snake_case word and returns its spelling, or an empty
// string to leave the word, backquotes included, as it is. Names and paths quoted in a message
// are not told apart from its prose: a backquoted lower_snake_case word inside a tensor name
// would be respelled too (no name TensorFlow writes has one).
std::string RespellOptions(std::string_view message,
                           const std::function<std::string(std::string_view)>& spell);

// Accepted values for a message: "a, b or c", each between `quote`s ("'a', 'b' or 'c'").
std::string OneOf(std::span<const std::string_view> names, std::string_view quote = "");

}  // namespace tfckpt

#define TFCKPT_RETURN_IF_ERROR(expr) \
  do {                               \
    ::tfckpt::Status _st = (expr);   \
    if (!_st.ok()) return _st;       \
  } while (0)

#endif  // TFCKPT_STATUS_H_
