"""Made-up digits for the tests, the sample images and the benchmarks: handwriting-like (realism) and
photo-like (photos). Nothing else in digitlib imports them."""
