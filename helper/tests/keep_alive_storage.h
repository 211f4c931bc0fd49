// Test support: a Storage that keeps alive what the storage it wraps
// needs (a temp directory, a fake server), so a suite factory can return
// one object that owns its whole world.
#pragma once

#include "storage/storage.h"

#include <memory>

namespace nixery::test {

class KeepAliveStorage final : public Storage {
  public:
    KeepAliveStorage(std::shared_ptr<void> owned,
                     std::unique_ptr<Storage> inner)
        : owned_(std::move(owned)), inner_(std::move(inner))
    {
    }
    Storage& inner() { return *inner_; }
    std::string describe() const override { return inner_->describe(); }
    const std::string& local_tmp() const override
    {
        return inner_->local_tmp();
    }
    void put(std::string_view k, std::string_view b) override
    {
        inner_->put(k, b);
    }
    void put_file(std::string_view k, const std::string& p) override
    {
        inner_->put_file(k, p);
    }
    std::optional<std::string> get(std::string_view k, std::size_t m) override
    {
        return inner_->get(k, m);
    }
    std::optional<std::uint64_t> size(std::string_view k) override
    {
        return inner_->size(k);
    }
    void list(std::string_view p,
              const std::function<void(const StoredObject&)>& f) override
    {
        inner_->list(p, f);
    }
    void remove(std::string_view k) override { inner_->remove(k); }

  private:
    // Declared first: destroyed after the storage that uses it.
    std::shared_ptr<void> owned_;
    std::unique_ptr<Storage> inner_;
};

} // namespace nixery::test
