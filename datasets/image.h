// 8-bit RGB images for the folder datasets: JPEG decoding (libjpeg-turbo's TurboJPEG API), and
// the resizing and cropping ImageNet-style pipelines use.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace advmoe {

struct Image {
  int64_t height = 0, width = 0;  // channels are always 3 (RGB), HWC
  std::vector<uint8_t> pixels;
};

// Decodes any JPEG (grayscale and CMYK are converted to RGB); throws naming the file when it
// cannot be read or decoded.
Image decode_jpeg_file(const std::string& path);
// Encodes RGB pixels as a JPEG file (tests write datasets in the real format with it).
void write_jpeg_file(const std::string& path, const Image& image, int quality = 95);

// Bilinear resize (pixel centres aligned, as PIL's and torchvision's resize without antialias).
Image resize_bilinear(const Image& image, int64_t height, int64_t width);
// Scales so the shorter side becomes `shorter`, keeping the aspect ratio (torchvision Resize(n)).
Image resize_shorter_side(const Image& image, int64_t shorter);
// The size x size window at (top, left); requires it to lie inside the image.
Image crop(const Image& image, int64_t top, int64_t left, int64_t size);

}  // namespace advmoe
