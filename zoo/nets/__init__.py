"""Network architectures of the zoo's papers, each in its own module (e.g. :mod:`zoo.nets.dcgan`)."""
