/** A dashboard page: `mount` renders into the page container and returns its cleanup. */
export interface Page {
  path: string;
  title: string;
  mount(root: HTMLElement): () => void;
}
