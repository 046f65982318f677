// Datasets stored as JPEG folders.
//   Tiny-ImageNet (tiny-imagenet-200/): wnids.txt; train/<wnid>/images/*.JPEG (64x64);
//     val/images/*.JPEG with val/val_annotations.txt ("<file>\t<wnid>\t<bbox...>"). Loaded into
//     memory (100k images, 1.2 GB), decoded in parallel.
//   ImageNet (imagenet/): train/<wnid>/*.JPEG and val/<wnid>/*.JPEG (the usual class-folder
//     layout). Indexed only; batches decode, resize the shorter side to 256 and crop 224.
// Classes are the sorted wnids, as torchvision's ImageFolder orders them.
#pragma once

#include <string>

#include "datasets/dataset.h"

namespace advmoe {

// `limit` > 0 decodes only the first `limit` examples (in file order). Throws naming the file or
// folder at fault: missing class folders, undecodable JPEGs, wrong image sizes, annotation lines
// naming unknown classes.
Dataset load_tiny_imagenet(const std::string& dir, const std::string& split, int64_t limit = 0);
Dataset index_imagenet(const std::string& dir, const std::string& split, int64_t image_size = 224,
                       int64_t resize_to = 256);

}  // namespace advmoe
