package mdadmview

import (
	"compress/gzip"
	"errors"
	"io"
	"os"
)

const maxImage = 256 << 20

func gunzip(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(zr, maxImage+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxImage {
		return nil, errors.New("image larger than 256 MiB decompressed")
	}
	return data, nil
}
