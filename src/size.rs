//! [`Size`]: the size of an image, a tile or a feature map, in pixels. One type with named
//! fields instead of pairs whose order (height first, like tensor shapes, or width first, like
//! image files) each signature had to state.

use std::fmt;

/// A size in pixels. Printed `WIDTHxHEIGHT`, as image tools do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Size {
    pub height: usize,
    pub width: usize,
}

impl Size {
    /// A `side x side` square.
    pub const fn square(side: usize) -> Size {
        Size { height: side, width: side }
    }

    /// Pixels covered: `height * width`.
    pub const fn area(self) -> usize {
        self.height * self.width
    }

    /// The longer side.
    pub fn max_side(self) -> usize {
        self.height.max(self.width)
    }

    /// Each side times `k` (the output of a model that upscales by `k`).
    pub const fn scaled(self, k: usize) -> Size {
        Size { height: self.height * k, width: self.width * k }
    }

    /// Each side rounded up to a multiple of `m` (the padding of a model whose windows and
    /// stripes tile multiples of `m`).
    pub const fn next_multiple_of(self, m: usize) -> Size {
        Size { height: self.height.next_multiple_of(m), width: self.width.next_multiple_of(m) }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn prints_width_first_and_rounds_each_side() {
        let size = Size { height: 27, width: 41 };
        assert_eq!(size.to_string(), "41x27");
        assert_eq!(size.next_multiple_of(16), Size { height: 32, width: 48 });
        assert_eq!((size.area(), size.max_side(), size.scaled(3)), (27 * 41, 41, Size { height: 81, width: 123 }));
        assert_eq!(Size::square(8), Size { height: 8, width: 8 });
    }
}
