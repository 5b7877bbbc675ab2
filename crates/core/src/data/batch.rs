//! From bytes to tensors: [0, 1] scaling and optional per-channel normalisation.

use super::dataset::{ImageDataset, ImageItem};
use burn::data::dataloader::batcher::Batcher;
use burn::tensor::{Device, Int, Tensor, TensorData};

/// Per-channel `(x - mean) / std` applied after scaling to [0, 1].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Normalization {
    /// Per-channel means (cycled when shorter than the channel count).
    pub mean: Vec<f32>,
    /// Per-channel standard deviations (cycled likewise).
    pub std: Vec<f32>,
}

impl Normalization {
    /// The usual MNIST statistics (mean 0.1307, std 0.3081).
    pub fn mnist() -> Self {
        Self {
            mean: vec![0.1307],
            std: vec![0.3081],
        }
    }

    /// The usual CIFAR-10 statistics.
    pub fn cifar10() -> Self {
        Self {
            mean: vec![0.4914, 0.4822, 0.4465],
            std: vec![0.2470, 0.2435, 0.2616],
        }
    }
}

/// A batch of images `[B, C, H, W]` and integer class targets `[B]`.
#[derive(Debug, Clone)]
pub struct ImageBatch {
    /// `[B, C, H, W]`, scaled to [0, 1] and optionally normalised.
    pub images: Tensor<4>,
    /// `[B]` class indices.
    pub targets: Tensor<1, Int>,
}

/// Builds [`ImageBatch`]es, either from Burn's data loader or straight from indices.
#[derive(Debug, Clone, Default)]
pub struct ImageBatcher {
    /// Applied after scaling to [0, 1]; `None` keeps pixels in [0, 1].
    pub normalization: Option<Normalization>,
}

impl ImageBatcher {
    /// Pixels in [0, 1] with no normalisation.
    pub fn unit() -> Self {
        Self::default()
    }

    /// With per-channel normalisation.
    pub fn normalized(n: Normalization) -> Self {
        Self {
            normalization: Some(n),
        }
    }

    fn to_floats(&self, images: &[&[u8]], shape: [usize; 3]) -> Vec<f32> {
        let plane = shape[1] * shape[2];
        let mut out = Vec::with_capacity(images.len() * shape[0] * plane);
        for img in images {
            for (c, channel) in img.chunks_exact(plane).enumerate() {
                let (mean, std) = match &self.normalization {
                    Some(n) => (n.mean[c % n.mean.len()], n.std[c % n.std.len()]),
                    None => (0.0, 1.0),
                };
                let (scale, shift) = (1.0 / (255.0 * std), -mean / std);
                out.extend(channel.iter().map(|&p| p as f32 * scale + shift));
            }
        }
        out
    }

    /// The images at `indices` of `dataset` as one batch on `device`.
    pub fn batch_indices(&self, dataset: &ImageDataset, indices: &[usize], device: &Device) -> ImageBatch {
        let images: Vec<&[u8]> = indices.iter().map(|&i| dataset.image(i)).collect();
        let labels: Vec<u8> = indices.iter().map(|&i| dataset.label(i)).collect();
        self.make(&images, &labels, dataset.shape, device)
    }

    fn make(&self, images: &[&[u8]], labels: &[u8], shape: [usize; 3], device: &Device) -> ImageBatch {
        let b = images.len();
        let data = TensorData::new(self.to_floats(images, shape), [b, shape[0], shape[1], shape[2]]);
        let targets: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
        ImageBatch {
            images: Tensor::from_data(data, device),
            targets: Tensor::from_data(TensorData::new(targets, [b]), device),
        }
    }
}

/// Batches [`ImageItem`]s from Burn's data loader; the items carry bytes only, so the
/// image shape is given here.
#[derive(Debug, Clone)]
pub struct ItemBatcher {
    /// How bytes become floats.
    pub batcher: ImageBatcher,
    /// `[channels, height, width]` of every item.
    pub shape: [usize; 3],
}

impl Batcher<ImageItem, ImageBatch> for ItemBatcher {
    fn batch(&self, items: Vec<ImageItem>, device: &Device) -> ImageBatch {
        let images: Vec<&[u8]> = items.iter().map(|i| i.pixels.as_slice()).collect();
        let labels: Vec<u8> = items.iter().map(|i| i.label).collect();
        self.batcher.make(&images, &labels, self.shape, device)
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::data::dataloader::DataLoaderBuilder;
    use std::sync::Arc;

    fn toy() -> ImageDataset {
        // two 2-channel 1x2 images
        ImageDataset::new(
            "toy",
            vec![0, 255, 51, 102, 255, 0, 0, 0],
            vec![1, 0],
            [2, 1, 2],
            2,
        )
    }

    #[test]
    fn scaling_and_normalisation() {
        let device = Device::flex();
        let b = ImageBatcher::unit().batch_indices(&toy(), &[1, 0], &device);
        assert_eq!(b.images.dims(), [2, 2, 1, 2]);
        let v = b.images.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(&v[..4], &[1.0, 0.0, 0.0, 0.0]);
        assert!((v[6] - 0.2).abs() < 1e-6 && (v[7] - 0.4).abs() < 1e-6);
        let t = b
            .targets
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap();
        assert_eq!(t, vec![0, 1]);

        let n = Normalization {
            mean: vec![0.5, 0.2],
            std: vec![0.5, 0.1],
        };
        let v = ImageBatcher::normalized(n)
            .batch_indices(&toy(), &[0], &device)
            .images;
        let v = v.into_data().try_to_vec::<f32>().unwrap();
        let expected = [-1.0, 1.0, 0.0, 2.0];
        for (a, e) in v.iter().zip(expected) {
            assert!((a - e).abs() < 1e-5, "{v:?}");
        }
    }

    #[test]
    fn works_with_burns_data_loader() {
        // five 2-channel 1×2 images with distinct bytes, so every pixel and label can be traced back
        let n = 5;
        let pixels: Vec<u8> = (0..n * 4).map(|i| (i * 13) as u8).collect();
        let labels: Vec<u8> = vec![3, 1, 4, 1, 5];
        let dataset = ImageDataset::new("five", pixels, labels, [2, 1, 2], 6);
        let loader = DataLoaderBuilder::new(ItemBatcher {
            batcher: ImageBatcher::unit(),
            shape: [2, 1, 2],
        })
        .batch_size(2)
        .set_device(Device::flex())
        .build(Arc::new(dataset.clone()));
        let batches: Vec<ImageBatch> = loader.iter().map(|b| b.unwrap()).collect();
        let sizes: Vec<usize> = batches.iter().map(|b| b.images.dims()[0]).collect();
        assert_eq!(sizes, vec![2, 2, 1]);
        // unshuffled: batch k holds items 2k and 2k + 1, scaled to [0, 1], with their labels
        let mut item = 0;
        for batch in batches {
            assert_eq!(batch.images.dims()[1..], [2, 1, 2]);
            let images = batch.images.into_data().try_to_vec::<f32>().unwrap();
            let targets = batch
                .targets
                .into_data()
                .convert::<i64>()
                .try_to_vec::<i64>()
                .unwrap();
            for (image, target) in images.chunks_exact(4).zip(targets) {
                let want: Vec<f32> = dataset.image(item).iter().map(|&p| p as f32 / 255.0).collect();
                let close = image.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6);
                assert!(close, "item {item}: {image:?} against {want:?}");
                assert_eq!(target, dataset.label(item) as i64, "label of item {item}");
                item += 1;
            }
        }
        assert_eq!(item, n);
    }
}
