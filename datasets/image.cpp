// JPEG decoding through TurboJPEG, and plain-loop resize/crop.
#include "datasets/image.h"

#include <turbojpeg.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>

#include "runtime/error.h"

namespace advmoe {

namespace {

struct TjHandle {
  tjhandle h;
  explicit TjHandle(tjhandle handle) : h(handle) {}
  ~TjHandle() {
    if (h) tjDestroy(h);
  }
};

std::vector<unsigned char> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ADVMOE_CHECK(in, "cannot open image '" << path << "'");
  return std::vector<unsigned char>((std::istreambuf_iterator<char>(in)), {});
}

}  // namespace

Image decode_jpeg_file(const std::string& path) {
  std::vector<unsigned char> bytes = read_file(path);
  TjHandle tj(tjInitDecompress());
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  ADVMOE_CHECK(!bytes.empty() && tjDecompressHeader3(tj.h, bytes.data(), bytes.size(), &width,
                                                     &height, &subsampling, &colorspace) == 0,
               "cannot decode JPEG '" << path << "': " << tjGetErrorStr2(tj.h));
  Image image;
  image.height = height;
  image.width = width;
  image.pixels.resize(static_cast<size_t>(width) * height * 3);
  ADVMOE_CHECK(tjDecompress2(tj.h, bytes.data(), bytes.size(), image.pixels.data(), width, 0,
                             height, TJPF_RGB, TJFLAG_ACCURATEDCT) == 0,
               "cannot decode JPEG '" << path << "': " << tjGetErrorStr2(tj.h));
  return image;
}

void write_jpeg_file(const std::string& path, const Image& image, int quality) {
  TjHandle tj(tjInitCompress());
  unsigned char* jpeg = nullptr;
  unsigned long size = 0;
  int rc =
      tjCompress2(tj.h, image.pixels.data(), static_cast<int>(image.width), 0,
                  static_cast<int>(image.height), TJPF_RGB, &jpeg, &size, TJSAMP_444, quality, 0);
  std::unique_ptr<unsigned char, void (*)(unsigned char*)> owned(jpeg, tjFree);
  ADVMOE_CHECK(rc == 0, "cannot encode JPEG '" << path << "': " << tjGetErrorStr2(tj.h));
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(jpeg), static_cast<std::streamsize>(size));
  ADVMOE_CHECK(out, "cannot write '" << path << "'");
}

Image resize_bilinear(const Image& in, int64_t height, int64_t width) {
  Image out;
  out.height = height;
  out.width = width;
  out.pixels.resize(static_cast<size_t>(height * width * 3));
  double sy = static_cast<double>(in.height) / height, sx = static_cast<double>(in.width) / width;
  for (int64_t y = 0; y < height; ++y) {
    double fy = std::max(0.0, (y + 0.5) * sy - 0.5);
    int64_t y0 = std::min<int64_t>(static_cast<int64_t>(fy), in.height - 1);
    int64_t y1 = std::min<int64_t>(y0 + 1, in.height - 1);
    double wy = fy - y0;
    for (int64_t x = 0; x < width; ++x) {
      double fx = std::max(0.0, (x + 0.5) * sx - 0.5);
      int64_t x0 = std::min<int64_t>(static_cast<int64_t>(fx), in.width - 1);
      int64_t x1 = std::min<int64_t>(x0 + 1, in.width - 1);
      double wx = fx - x0;
      for (int64_t c = 0; c < 3; ++c) {
        auto at = [&](int64_t yy, int64_t xx) {
          return in.pixels[static_cast<size_t>((yy * in.width + xx) * 3 + c)];
        };
        double v = (1 - wy) * ((1 - wx) * at(y0, x0) + wx * at(y0, x1)) +
                   wy * ((1 - wx) * at(y1, x0) + wx * at(y1, x1));
        out.pixels[static_cast<size_t>((y * width + x) * 3 + c)] =
            static_cast<uint8_t>(std::lround(v));
      }
    }
  }
  return out;
}

Image resize_shorter_side(const Image& in, int64_t shorter) {
  if (in.height <= in.width)
    return resize_bilinear(
        in, shorter,
        std::max<int64_t>(1, std::lround(static_cast<double>(in.width) * shorter / in.height)));
  return resize_bilinear(
      in, std::max<int64_t>(1, std::lround(static_cast<double>(in.height) * shorter / in.width)),
      shorter);
}

Image crop(const Image& in, int64_t top, int64_t left, int64_t size) {
  ADVMOE_CHECK(top >= 0 && left >= 0 && top + size <= in.height && left + size <= in.width,
               "crop " << size << "x" << size << " at (" << top << ", " << left << ") outside a "
                       << in.height << "x" << in.width << " image");
  Image out;
  out.height = out.width = size;
  out.pixels.resize(static_cast<size_t>(size * size * 3));
  for (int64_t y = 0; y < size; ++y)
    std::copy_n(in.pixels.begin() + ((top + y) * in.width + left) * 3, size * 3,
                out.pixels.begin() + y * size * 3);
  return out;
}

}  // namespace advmoe
