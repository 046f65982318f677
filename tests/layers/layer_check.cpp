// Linked once per library by tests/layers/CMakeLists.txt: building it is the check (every object
// of the layer resolves against the layers below), running it does nothing.
int main() {
  return 0;
}
