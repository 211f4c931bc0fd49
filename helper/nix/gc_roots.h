// GC roots held on store paths while the helper packs them.
//
// Nix may collect garbage at any time; a path the helper is reading into a
// layer must not disappear under it (Nixery holds no roots at all, so a
// collection while it packs could). A GcRoots owns a fresh directory under
// the configured roots directory; `nix-store --realise --add-root` puts one
// indirect root per output there, which also protects each output's whole
// closure. Destroying the GcRoots removes the directory, releasing them.
#pragma once

#include <string>

namespace nixery {

class GcRoots {
  public:
    // Creates a fresh directory inside `parent` (created if needed).
    explicit GcRoots(const std::string& parent);
    GcRoots(const GcRoots&) = delete;
    GcRoots& operator=(const GcRoots&) = delete;
    ~GcRoots();

    const std::string& dir() const { return dir_; }
    // The path to pass to --add-root (Nix appends -2, -3... per output).
    std::string root_link() const { return dir_ + "/root"; }

  private:
    std::string dir_;
};

} // namespace nixery
